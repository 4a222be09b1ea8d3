using System.Net;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Tests.Transfer;

public class AdmissionTests
{
    private static ServerSettings Server(params (string, string)[] overrides) =>
        NodeSettings.Read(NodeConfig.Build(NodeRole.Server, overrides), NodeRole.Server).Server;

    [Fact]
    public void After_a_wrong_token_the_address_waits_the_wait_doubles_and_a_join_clears_the_record()
    {
        var admission = new Admission(Server(("server.penalty-min", "1s"), ("server.penalty-max", "8s")));
        var address = IPAddress.Parse("10.1.2.3");
        var t = TimeSpan.FromSeconds(100);
        TimeSpan S(double seconds) => t + TimeSpan.FromSeconds(seconds);
        Assert.Null(admission.Admit(address, t));
        admission.Penalize(address, ListenerMessages.Misbehaviour.WrongToken, t);
        admission.Closed(address, admitted: false);
        // Refused for a second, saying how long is left; heard again after it.
        Assert.Equal((WireCode.BadToken, "too many wrong tokens from 10.1.2.3; try again in 1 s"), admission.Admit(address, S(0.2)));
        Assert.Null(admission.Admit(address, S(1.2)));
        // A second wrong token: twice as long (2 s), so half a second later the answer says 2 s, not 1.
        admission.Penalize(address, ListenerMessages.Misbehaviour.WrongToken, S(1.2));
        admission.Closed(address, admitted: false);
        Assert.Equal((WireCode.BadToken, "too many wrong tokens from 10.1.2.3; try again in 2 s"), admission.Admit(address, S(1.7)));
        Assert.NotNull(admission.Admit(address, S(3.1)));
        // After that wait the right token gets in, and the record is cleared: a later wrong token starts at 1 s again.
        Assert.Null(admission.Admit(address, S(3.3)));
        admission.Admitted(address);
        admission.Penalize(address, ListenerMessages.Misbehaviour.WrongToken, S(4));
        Assert.Equal((WireCode.BadToken, "too many wrong tokens from 10.1.2.3; try again in 1 s"), admission.Admit(address, S(4.1)));
        // It never waits more than penalty-max, however often it tries.
        for (var i = 0; i < 10; i++) admission.Penalize(address, ListenerMessages.Misbehaviour.WrongToken, S(5));
        Assert.Equal((WireCode.BadToken, "too many wrong tokens from 10.1.2.3; try again in 8 s"), admission.Admit(address, S(5)));
        Assert.NotNull(admission.Admit(address, S(12.9)));
        Assert.Null(admission.Admit(address, S(13.1)));
    }

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
