using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Real files between real server and client actor systems on 127.0.0.1, verified by SHA-256.</summary>
/// <remarks>Run over both transports: <see cref="TransferOverTlsTests"/> and <see cref="TransferInTheClearTests"/>.</remarks>
public abstract class TransferTests(bool tls) : NodesAndFiles(new TestNodes(tls))
{
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private (ClientNode Node, EventLog Log) _alice, _bob;
    private string _serverDownloads = null!, _aliceDownloads = null!, _bobDownloads = null!;

    public override async Task InitializeAsync()
    {
        _serverDownloads = Files.Dir("server-downloads");
        _aliceDownloads = Files.Dir("alice-downloads");
        _bobDownloads = Files.Dir("bob-downloads");
        (_server, _serverLog) = await Nodes.StartServer(("downloads", _serverDownloads));
        _alice = await Nodes.StartClient("alice", _server.Port, ("downloads", _aliceDownloads));
        _bob = await Nodes.StartClient("bob", _server.Port, ("downloads", _bobDownloads));
        await _alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");
    }

    private static async Task<(TransferCompleted Sent, TransferCompleted Received)> Delivered(EventLog senderLog, EventLog receiverLog, string file)
    {
        var received = await receiverLog.WaitFor<TransferCompleted>(c => c.File == file, timeout: TimeSpan.FromSeconds(60));
        var sent = await senderLog.WaitFor<TransferCompleted>(c => c.Id == received.Id, timeout: TimeSpan.FromSeconds(60));
        return (sent, received);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65_535)]
    [InlineData(65_536)]
    [InlineData(65_537)]
    [InlineData(3_000_017)]
    public async Task Client_to_server_delivers_the_exact_bytes(long size)
    {
        var source = Files.Create($"src/file-{size}.bin", size, seed: (int)size);
        _alice.Node.Commands.Tell(new NodeCommands.SendFile(null, source));
        var (sent, received) = await Delivered(_alice.Log, _serverLog, $"file-{size}.bin");

        Assert.Equal(Path.Combine(_serverDownloads, $"file-{size}.bin"), received.Path);
        Assert.Equal(Files.Sha256(source), received.Sha256);
        Assert.Equal(Files.Sha256(received.Path), received.Sha256);
        Assert.Equal(sent.Sha256, received.Sha256);
        Assert.Equal(size, received.Size);
        Assert.Empty(Files.Partials(_serverDownloads));

        var started = await _serverLog.WaitFor<TransferStarted>(s => s.Id == received.Id);
        Assert.Equal((TransferDirection.Receive, "alice", "server", 0L), (started.Direction, started.From, started.To, started.Offset));
        var offered = await _serverLog.WaitFor<TransferOffered>(o => o.Id == received.Id);
        Assert.Equal(size, offered.Size);
        var last = _alice.Log.All<TransferProgress>().Last(p => p.Id == sent.Id);
        Assert.Equal((size, size), (last.Bytes, last.Total));
    }

    [Fact]
    public async Task Server_to_a_named_client_delivers_only_to_that_client()
    {
        var source = Files.Create("src/for-bob.bin", 777_777, seed: 7);
        _server.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var (sent, received) = await Delivered(_serverLog, _bob.Log, "for-bob.bin");
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
        Assert.Equal(source, sent.Path);
        Assert.Equal(Path.Combine(_bobDownloads, "for-bob.bin"), received.Path);
        Assert.Empty(Files.List(_aliceDownloads));
        var started = await _serverLog.WaitFor<TransferStarted>(x => x.Id == sent.Id);
        Assert.Equal((TransferDirection.Send, "server", "bob"), (started.Direction, started.From, started.To));
    }

    [Fact]
    public async Task Client_to_client_is_relayed_by_the_server_which_stores_nothing()
    {
        var source = Files.Create("src/relayed.bin", 5_000_000, seed: 3);
        _alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var (sent, received) = await Delivered(_alice.Log, _bob.Log, "relayed.bin");
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
        Assert.Equal(sent.Id, received.Id);
        var offered = await _bob.Log.WaitFor<TransferOffered>(o => o.Id == received.Id);
        Assert.Equal(("alice", "bob"), (offered.From, offered.To));
        Assert.Empty(Files.List(_serverDownloads));
        Assert.Empty(Files.Partials(_serverDownloads));
        Assert.DoesNotContain(_serverLog.Snapshot(), e => e is TransferStarted or TransferOffered);
    }

    [Fact]
    public async Task A_multi_hundred_MiB_file_arrives_intact_while_chat_keeps_flowing()
    {
        var source = Files.Create("src/big.bin", 300L * 1024 * 1024, seed: 300);
        _alice.Node.Commands.Tell(new NodeCommands.SendFile(null, source));
        await _serverLog.WaitFor<TransferStarted>(s => s.File == "big.bin");
        // Chat over the very connection that carries the file.
        for (var i = 0; i < 20; i++) _alice.Node.Commands.Tell(new NodeCommands.Say($"during transfer {i}"));
        await _bob.Log.WaitFor<ChatReceived>(c => c.Text == "during transfer 19");
        var (_, received) = await Delivered(_alice.Log, _serverLog, "big.bin");
        Assert.Equal(Files.Sha256(source), received.Sha256);
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
        Assert.Equal(300L * 1024 * 1024, new FileInfo(received.Path).Length);
    }

    [Fact]
    public async Task A_folder_keeps_its_structure_and_its_small_files_travel_between_clients_as_one_transfer()
    {
        var album = Path.Combine(Files.Root, "src", "album");
        var expected = new Dictionary<string, string>
        {
            ["album/a.bin"] = Files.Create("src/album/a.bin", 10_000, seed: 1),
            ["album/sub/b.bin"] = Files.Create("src/album/sub/b.bin", 200_000, seed: 2),
            ["album/sub/deeper/c.txt"] = Files.Create("src/album/sub/deeper/c.txt", 1, seed: 3),
            ["album/empty.dat"] = Files.Create("src/album/empty.dat", 0, seed: 4),
            ["album/.hidden"] = Files.Create("src/album/.hidden", 50, seed: 5),
        };
        _alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", album + "/"));
        var (sent, received) = await Delivered(_alice.Log, _bob.Log, "album/");
        Assert.Equal(Path.Combine(_bobDownloads, "album"), received.Path);
        Assert.Equal(sent.Sha256, received.Sha256);
        foreach (var (file, source) in expected)
            Assert.Equal(Files.Sha256(source), Files.Sha256(Path.Combine([_bobDownloads, .. file.Split('/')])));
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), Files.List(_bobDownloads));
        Assert.Single(_bob.Log.All<TransferCompleted>());
        Assert.Single(_bob.Log.All<TransferOffered>());
        Assert.Empty(Files.Partials(_bobDownloads));
    }

    [Fact]
    public async Task Several_transfers_in_every_direction_at_once_while_chatting()
    {
        var a1 = Files.Create("src/a1.bin", 20_000_000, seed: 11);
        var a2 = Files.Create("src/a2.bin", 9_000_000, seed: 12);
        var b1 = Files.Create("src/b1.bin", 15_000_000, seed: 13);
        var s1 = Files.Create("src/s1.bin", 12_000_000, seed: 14);
        _alice.Node.Commands.Tell(new NodeCommands.SendFile(null, a1));
        _alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", a2));
        _bob.Node.Commands.Tell(new NodeCommands.SendFile("alice", b1));
        _server.Commands.Tell(new NodeCommands.SendFile("alice", s1));
        for (var i = 0; i < 50; i++)
        {
            _bob.Node.Commands.Tell(new NodeCommands.Say($"chat {i}"));
            _server.Commands.Tell(new NodeCommands.SayTo("alice", $"dm {i}"));
        }
        var results = await Task.WhenAll(
            Delivered(_alice.Log, _serverLog, "a1.bin"),
            Delivered(_alice.Log, _bob.Log, "a2.bin"),
            Delivered(_bob.Log, _alice.Log, "b1.bin"),
            Delivered(_serverLog, _alice.Log, "s1.bin"));
        Assert.Equal([Files.Sha256(a1), Files.Sha256(a2), Files.Sha256(b1), Files.Sha256(s1)], results.Select(r => Files.Sha256(r.Received.Path)));
        await _alice.Log.WaitFor<ChatReceived>(c => c.Text == "chat 49");
        await _alice.Log.WaitFor<ChatReceived>(c => c.Text == "dm 49");
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"chat {i}"), _alice.Log.All<ChatReceived>().Where(c => c.From == "bob").Select(c => c.Text));
    }

    [Fact]
    public async Task A_name_that_exists_gets_a_new_name_and_nothing_is_overwritten()
    {
        var existing = Path.Combine(_serverDownloads, "report.pdf");
        await File.WriteAllTextAsync(existing, "the server's own report");
        var first = Files.Create("src/one/report.pdf", 1000, seed: 21);
        var second = Files.Create("src/two/report.pdf", 2000, seed: 22);
        _alice.Node.Commands.Tell(new NodeCommands.SendFile(null, first));
        var (_, r1) = await Delivered(_alice.Log, _serverLog, "report.pdf");
        _alice.Node.Commands.Tell(new NodeCommands.SendFile(null, second));
        var r2 = await _serverLog.WaitFor<TransferCompleted>(c => c.File == "report.pdf" && c.Id != r1.Id);
        Assert.Equal(Path.Combine(_serverDownloads, "report (1).pdf"), r1.Path);
        Assert.Equal(Path.Combine(_serverDownloads, "report (2).pdf"), r2.Path);
        Assert.Equal("the server's own report", await File.ReadAllTextAsync(existing));
        Assert.Equal(Files.Sha256(first), Files.Sha256(r1.Path));
        Assert.Equal(Files.Sha256(second), Files.Sha256(r2.Path));
    }

    [Fact]
    public async Task Sending_to_an_unknown_peer_or_a_missing_file_fails_clearly()
    {
        var source = Files.Create("src/x.bin", 10, seed: 1);
        _alice.Node.Commands.Tell(new NodeCommands.SendFile("zed", source));
        var failed = await _alice.Log.WaitFor<TransferFailed>(f => f.File == "x.bin");
        Assert.Contains("no one named 'zed' is online", failed.Reason, StringComparison.Ordinal);

        _server.Commands.Tell(new NodeCommands.SendFile("zed", source));
        Assert.Contains("no one named 'zed' is online", (await _serverLog.WaitFor<TransferFailed>(f => f.File == "x.bin")).Reason, StringComparison.Ordinal);

        var missing = Path.Combine(Files.Root, "nope.bin");
        _alice.Node.Commands.Tell(new NodeCommands.SendFile(null, missing));
        var error = await _alice.Log.WaitFor<ErrorOccurred>(e => e.Message.Contains("nope.bin", StringComparison.Ordinal));
        Assert.Contains("no such file or folder", error.Message, StringComparison.Ordinal);
    }
}

public sealed class TransferOverTlsTests() : TransferTests(tls: true);

public sealed class TransferInTheClearTests() : TransferTests(tls: false);
