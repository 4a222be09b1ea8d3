using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Real files between real server and client actor systems on 127.0.0.1, verified by SHA-256.</summary>
public sealed class TransferTests : IAsyncLifetime
{
    private readonly TestNodes _nodes = new();
    private readonly Files _files = new();
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private (ClientNode Node, EventLog Log) _alice, _bob;
    private string _serverDownloads = null!, _aliceDownloads = null!, _bobDownloads = null!;

    public async Task InitializeAsync()
    {
        _serverDownloads = _files.Dir("server-downloads");
        _aliceDownloads = _files.Dir("alice-downloads");
        _bobDownloads = _files.Dir("bob-downloads");
        (_server, _serverLog) = await _nodes.StartServer(("downloads", _serverDownloads));
        _alice = await _nodes.StartClient("alice", _server.Port, ("downloads", _aliceDownloads));
        _bob = await _nodes.StartClient("bob", _server.Port, ("downloads", _bobDownloads));
        await _alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");
    }

    public async Task DisposeAsync()
    {
        await _nodes.DisposeAsync();
        _files.Dispose();
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
        var source = _files.Create($"src/file-{size}.bin", size, seed: (int)size);
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
}
