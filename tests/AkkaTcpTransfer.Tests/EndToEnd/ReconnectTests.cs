using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

public sealed class ReconnectTests
{
    [Fact]
    public async Task Clients_see_the_server_stop_and_reconnect_when_it_returns_on_the_same_port()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        var port = server.Port;
        var (alice, aliceLog) = await nodes.StartClient("alice", port);
        var (_, bobLog) = await nodes.StartClient("bob", port);
        var aliceMark = aliceLog.Mark();
        var bobMark = bobLog.Mark();

        await server.StopAsync();
        var lost = await aliceLog.WaitFor<Disconnected>(after: aliceMark);
        Assert.True(lost.WillReconnect);
        Assert.Contains("server shutting down", lost.Reason, StringComparison.Ordinal);
        await bobLog.WaitFor<Disconnected>(after: bobMark);

        // A new server binds the very same port at once (SO_REUSEADDR), although the old one's sockets linger. It is
        // the same server: the same state folder, so the same TLS key the clients pinned.
        var log = new EventLog("server-2");
        await using var again = await ServerNode.StartAsync(NodeConfig.Build(NodeRole.Server,
            [.. TestNodes.Fast, ("port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("state-dir", server.Settings.StateDir)]), log.Attach);
        Assert.Equal(port, again.Port);
        Assert.Equal(server.Fingerprint, again.Fingerprint);

        await aliceLog.WaitFor<Connected>(after: aliceMark);
        await bobLog.WaitFor<Connected>(after: bobMark);
        await log.WaitFor<PeerJoined>(p => p.Name == "alice");
        await log.WaitFor<PeerJoined>(p => p.Name == "bob");
        alice.Commands.Tell(new NodeCommands.Say("we are back"));
        await bobLog.WaitFor<ChatReceived>(c => c.Text == "we are back");
        await log.WaitFor<ChatReceived>(c => c.Text == "we are back");
    }

    [Fact]
    public async Task Commands_while_disconnected_fail_with_an_error_instead_of_vanishing()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        var (alice, aliceLog) = await nodes.StartClient("alice", server.Port, ("client.reconnect.min-backoff", "10s"), ("client.reconnect.max-backoff", "10s"));
        await server.StopAsync();
        var mark = aliceLog.Mark();
        await aliceLog.WaitFor<Disconnected>();
        alice.Commands.Tell(new NodeCommands.Say("anyone?"));
        var notSent = await aliceLog.WaitFor<ChatNotSent>(after: mark);
        Assert.Equal("anyone?", notSent.Text);
        Assert.Contains("not connected", notSent.Reason, StringComparison.Ordinal);
        alice.Commands.Tell(NodeCommands.Who.Instance);
        Assert.Contains("not connected", (await aliceLog.WaitFor<ErrorOccurred>(after: mark)).Message, StringComparison.Ordinal);
        Assert.DoesNotContain(aliceLog.All<ChatSent>(), s => s.Text == "anyone?");
    }

    [Fact]
    public async Task A_client_that_cannot_connect_at_all_fails_to_start_with_the_reason()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        var port = server.Port;
        await server.StopAsync();
        var ex = await Assert.ThrowsAsync<NodeStartException>(() => nodes.StartClient("alice", port, ("client.connect-timeout", "2s")));
        Assert.Equal(StartFailure.CannotConnect, ex.Kind);
        Assert.Contains($"cannot connect to 127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_server_on_a_port_in_use_fails_to_start_with_the_reason()
    {
        await using var nodes = new TestNodes();
        var (server, _) = await nodes.StartServer();
        var ex = await Assert.ThrowsAsync<NodeStartException>(() => nodes.StartServer(("port", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        Assert.Equal(StartFailure.CannotBind, ex.Kind);
        Assert.Contains($"cannot listen on 127.0.0.1:{server.Port}", ex.Message, StringComparison.Ordinal);
    }
}
