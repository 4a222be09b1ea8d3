using System.Net;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Tests.Transfer;

public class AdmissionTests
{
    private static ServerSettings Server(params (string, string)[] overrides) =>
        NodeSettings.Read(NodeConfig.Build(NodeRole.Server, overrides), NodeRole.Server).Server;

    [Fact]
    public void An_offender_is_forgotten_once_its_offences_are_old_so_the_table_stays_bounded()
    {
        var admission = new Admission(Server(("server.penalty-min", "1s"), ("server.penalty-max", "4s")));
        var now = TimeSpan.FromSeconds(100);
        for (var i = 0; i < 1000; i++)
        {
            var address = new IPAddress([10, 0, (byte)(i / 256), (byte)(i % 256)]);
            Assert.Null(admission.Admit(address, now));
            admission.Penalize(address, ListenerMessages.Misbehaviour.WrongToken, now);
            admission.Closed(address, admitted: false);
        }
        Assert.Equal(1000, admission.Addresses);
        admission.Sweep(now + TimeSpan.FromSeconds(5));
        Assert.Equal(1000, admission.Addresses); // still within twice the longest wait
        admission.Sweep(now + TimeSpan.FromSeconds(9));
        Assert.Equal(0, admission.Addresses);
    }
}
