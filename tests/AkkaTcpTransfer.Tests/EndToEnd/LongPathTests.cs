using System.Globalization;
using System.Text.RegularExpressions;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>A client 50 ms (round trip) from its server, through a <see cref="DelayLine"/>, with TLS: the window
/// grows to fit the path where the receiver grants it, and a relaying server keeps it at its own cap. alice starts at
/// 128 KiB, so that doubling it needs only 2.5 MiB/s of this machine, however loaded.</summary>
public sealed partial class LongPathTests : NodesAndFiles
{
    private const int Floor = 128 * 1024;

    [GeneratedRegex(@"window grew to (?<grew>\d+) bytes \(declared (?<declared>\d+)\)")]
    private static partial Regex WindowLine();

    private static (int Grew, int Declared) Window(string line)
    {
        var m = WindowLine().Match(line);
        return (int.Parse(m.Groups["grew"].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups["declared"].Value, CultureInfo.InvariantCulture));
    }

    private async Task<(ServerNode Server, EventLog ServerLog, ClientNode Alice, EventLog AliceLog, DelayLine Line)> Start()
    {
        var (server, serverLog) = await Nodes.StartServer(("downloads", Files.Dir("server")));
        var line = new DelayLine(server.Port, TimeSpan.FromMilliseconds(25));
        var (alice, aliceLog) = await Nodes.StartClient("alice", line.Port, ("downloads", Files.Dir("alice")),
            ("tls.fingerprint", TestNodes.FingerprintOf(server.Port)!), ("akka.loglevel", "INFO"), ("transfer.window", "128k"));
        return (server, serverLog, alice, aliceLog, line);
    }

    [Fact]
    public async Task A_sender_far_from_its_receiver_grows_its_window_past_the_floor()
    {
        var (_, serverLog, alice, _, line) = await Start();
        await using var _ = line;
        var source = Files.Create("src/far.bin", 24L << 20, seed: 7);
        var logged = LogLines.WaitFor(alice.System, l => l.Contains("sent far.bin", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        alice.Commands.Tell(new NodeCommands.SendFile(null, source));

        var received = await serverLog.WaitFor<TransferCompleted>(c => c.File == "far.bin", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
        var (grew, declared) = Window(await logged);
        Assert.Equal(8 << 20, declared); // the server granted its max-window, and the client's own cap is the same
        Assert.InRange(grew, 2 * Floor, declared);
    }

    [Fact]
    public async Task A_relaying_server_keeps_the_window_at_its_own_cap()
    {
        var (server, _, alice, aliceLog, line) = await Start();
        await using var _ = line;
        var (_, bobLog) = await Nodes.StartClient("bob", server.Port, ("downloads", Files.Dir("bob")));
        const int serverWindow = 512 * 1024;
        await aliceLog.WaitFor<PeerJoined>(p => p.Name == "bob");
        var source = Files.Create("src/relayed.bin", 6L << 20, seed: 8);
        var logged = LogLines.WaitFor(alice.System, l => l.Contains("sent relayed.bin", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        alice.Commands.Tell(new NodeCommands.SendFile("bob", source));

        var received = await bobLog.WaitFor<TransferCompleted>(c => c.File == "relayed.bin", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
        // Bob granted 8 MiB; the server, which queues what it relays for bob, lowered that to its transfer.window, and
        // alice's window stays within it.
        var (grew, declared) = Window(await logged);
        Assert.Equal(serverWindow, declared);
        Assert.InRange(grew, Floor, serverWindow);
    }
}
