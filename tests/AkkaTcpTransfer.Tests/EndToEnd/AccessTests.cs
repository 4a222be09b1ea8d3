using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using PeerJoined = AkkaTcpTransfer.Events.PeerJoined;
using PeerLeft = AkkaTcpTransfer.Events.PeerLeft;

namespace AkkaTcpTransfer.Tests.EndToEnd;

public sealed class AccessTests : IAsyncLifetime
{
    private readonly TestNodes _nodes = new();
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;

    public async Task InitializeAsync() => (_server, _serverLog) = await _nodes.StartServer(("token", "open sesame"), ("server.penalty-min", "0s"));

    public async Task DisposeAsync() => await _nodes.DisposeAsync();

    [Fact]
    public async Task Client_with_the_right_token_is_accepted()
    {
        var (alice, _) = await _nodes.StartClient("alice", _server.Port, ("token", "open sesame"));
        Assert.Equal("alice", alice.Name);
        await _serverLog.WaitFor<PeerJoined>(p => p.Name == "alice");
    }

    [Fact]
    public async Task Client_with_a_wrong_or_missing_token_is_refused_clearly()
    {
        var wrong = await Assert.ThrowsAsync<NodeStartException>(() => _nodes.StartClient("eve", _server.Port, ("token", "guess")));
        Assert.Equal(StartFailure.Refused, wrong.Kind);
        Assert.Equal("refused by the server: wrong token", wrong.Message);
        var missing = await Assert.ThrowsAsync<NodeStartException>(() => _nodes.StartClient("eve", _server.Port));
        Assert.Equal("refused by the server: this server requires a token", missing.Message);
    }

    [Fact]
    public async Task A_refused_client_receives_nothing_but_the_refusal()
    {
        var (alice, _) = await _nodes.StartClient("alice", _server.Port, ("token", "open sesame"));
        await using var raw = await RawClient.ConnectAsync(_server.Port);
        await raw.SendAsync(new Hello(ProtocolLimits.Version, 65536, "eve", "guess", []));
        // Chat flows while eve waits for an answer; none of it may reach her.
        _server.Commands.Tell(new NodeCommands.Say("secret plans"));
        alice.Commands.Tell(new NodeCommands.Say("more secrets"));
        var frames = await raw.ReceiveUntilClosedAsync();
        Assert.All(frames, f => Assert.True(f is Refused or Goodbye, $"unexpected {f.Type}"));
        Assert.Equal(WireCode.BadToken, Assert.IsType<Refused>(frames[0]).Code);
        Assert.DoesNotContain(_serverLog.All<PeerJoined>(), p => p.Name == "eve");
    }
}
