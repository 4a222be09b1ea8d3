using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>A server actor system and three client actor systems on 127.0.0.1 exchange chat in every direction.</summary>
/// <remarks>Run over both transports: <see cref="ChatOverTlsTests"/> and <see cref="ChatInTheClearTests"/>.</remarks>
public abstract class ChatTests(bool tls) : IAsyncLifetime
{
    private readonly TestNodes _nodes = new(tls);
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private (ClientNode Node, EventLog Log) _alice, _bob, _carol;

    public async Task InitializeAsync()
    {
        (_server, _serverLog) = await _nodes.StartServer();
        _alice = await _nodes.StartClient("alice", _server.Port);
        _bob = await _nodes.StartClient("bob", _server.Port);
        _carol = await _nodes.StartClient("carol", _server.Port);
        // Everyone has seen everyone arrive before a test starts.
        await _alice.Log.WaitFor<PeerJoined>(p => p.Name == "carol");
        await _bob.Log.WaitFor<PeerJoined>(p => p.Name == "carol");
    }

    public async Task DisposeAsync() => await _nodes.DisposeAsync();

    [Fact]
    public async Task Client_broadcast_reaches_every_other_client_and_the_server_but_not_its_sender()
    {
        _alice.Node.Commands.Tell(new NodeCommands.Say("hello all"));
        var atBob = await _bob.Log.WaitFor<ChatReceived>(c => c.Text == "hello all");
        await _carol.Log.WaitFor<ChatReceived>(c => c.Text == "hello all");
        var atServer = await _serverLog.WaitFor<ChatReceived>(c => c.Text == "hello all");
        Assert.Equal("alice", atBob.From);
        Assert.Null(atBob.To);
        Assert.Equal("alice", atServer.From);
        Assert.True(Math.Abs((DateTimeOffset.UtcNow - atBob.At).TotalSeconds) < 30, "server time stamp is current");

        // The registry handled alice's message before bob's (carol saw it), so had alice been sent her own
        // message it would sit in her log before bob's.
        _bob.Node.Commands.Tell(new NodeCommands.Say("marker"));
        await _alice.Log.WaitFor<ChatReceived>(c => c.Text == "marker");
        Assert.DoesNotContain(_alice.Log.All<ChatReceived>(), c => c.Text == "hello all");
    }

    [Fact]
    public async Task Server_broadcast_reaches_every_client()
    {
        _server.Commands.Tell(new NodeCommands.Say("server speaking"));
        foreach (var (_, log) in new[] { _alice, _bob, _carol })
        {
            var chat = await log.WaitFor<ChatReceived>(c => c.Text == "server speaking");
            Assert.Equal("server", chat.From);
            Assert.Null(chat.To);
        }
    }

    [Fact]
    public async Task Server_direct_message_reaches_only_its_recipient()
    {
        _server.Commands.Tell(new NodeCommands.SayTo("bob", "just for bob"));
        var chat = await _bob.Log.WaitFor<ChatReceived>(c => c.Text == "just for bob");
        Assert.Equal(("server", "bob"), (chat.From, chat.To));

        _server.Commands.Tell(new NodeCommands.Say("marker"));
        await _alice.Log.WaitFor<ChatReceived>(c => c.Text == "marker");
        await _carol.Log.WaitFor<ChatReceived>(c => c.Text == "marker");
        Assert.DoesNotContain(_alice.Log.All<ChatReceived>(), c => c.Text == "just for bob");
        Assert.DoesNotContain(_carol.Log.All<ChatReceived>(), c => c.Text == "just for bob");
    }

    [Fact]
    public async Task Client_direct_message_is_relayed_to_the_named_client_only()
    {
        _alice.Node.Commands.Tell(new NodeCommands.SayTo("carol", "psst carol"));
        var chat = await _carol.Log.WaitFor<ChatReceived>(c => c.Text == "psst carol");
        Assert.Equal(("alice", "carol"), (chat.From, chat.To));

        _alice.Node.Commands.Tell(new NodeCommands.Say("marker"));
        await _bob.Log.WaitFor<ChatReceived>(c => c.Text == "marker");
        await _serverLog.WaitFor<ChatReceived>(c => c.Text == "marker");
        Assert.DoesNotContain(_bob.Log.All<ChatReceived>(), c => c.Text == "psst carol");
        Assert.DoesNotContain(_serverLog.All<ChatReceived>(), c => c.Text == "psst carol");
    }

    [Fact]
    public async Task Client_direct_message_to_the_server_is_seen_by_the_server()
    {
        _bob.Node.Commands.Tell(new NodeCommands.SayTo("server", "hi server"));
        var chat = await _serverLog.WaitFor<ChatReceived>(c => c.Text == "hi server");
        Assert.Equal(("bob", "server"), (chat.From, chat.To));
    }

    [Fact]
    public async Task Direct_message_names_are_case_insensitive()
    {
        _bob.Node.Commands.Tell(new NodeCommands.SayTo("ALICE", "shouting your name"));
        var chat = await _alice.Log.WaitFor<ChatReceived>(c => c.Text == "shouting your name");
        Assert.Equal("alice", chat.To);
    }

    [Fact]
    public async Task Message_to_an_unknown_peer_is_an_error_for_the_sender_only()
    {
        var mark = _alice.Log.Mark();
        _alice.Node.Commands.Tell(new NodeCommands.SayTo("nobody", "anyone there?"));
        // The refusal names the line (its number and text), and it is never reported as sent.
        var notSent = await _alice.Log.WaitFor<ChatNotSent>(after: mark);
        Assert.Equal(("nobody", "anyone there?"), (notSent.To, notSent.Text));
        Assert.Contains("'nobody'", notSent.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(_alice.Log.All<ChatSent>(), s => s.Line == notSent.Line);

        _server.Commands.Tell(new NodeCommands.SayTo("ghost", "boo"));
        Assert.Contains("'ghost'", (await _serverLog.WaitFor<ChatNotSent>(n => n.Text == "boo")).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Utf8_text_arrives_whole_and_in_order()
    {
        string[] texts = ["你好，世界", "こんにちは 🌸", "🎉🚀👩‍💻", "Ünïcödé ß ø å", "مرحبا", "emoji in the middle 🔥 of text"];
        var all = Enumerable.Range(0, 200).Select(i => $"{i:000} {texts[i % texts.Length]}").ToList();
        foreach (var text in all) _alice.Node.Commands.Tell(new NodeCommands.Say(text));
        await _bob.Log.WaitFor<ChatReceived>(c => c.Text == all[^1]);
        var received = _bob.Log.All<ChatReceived>().Where(c => c.From == "alice").Select(c => c.Text).ToList();
        Assert.Equal(all, received);
    }

    [Fact]
    public async Task Too_long_a_message_is_refused_with_a_clear_error_and_the_client_stays_connected()
    {
        var mark = _alice.Log.Mark();
        _alice.Node.Commands.Tell(new NodeCommands.Say(new string('x', 20_000)));
        var notSent = await _alice.Log.WaitFor<ChatNotSent>(after: mark);
        Assert.Contains("longer than the limit", notSent.Reason, StringComparison.Ordinal);
        _alice.Node.Commands.Tell(new NodeCommands.Say("still here"));
        await _bob.Log.WaitFor<ChatReceived>(c => c.Text == "still here");
    }

    [Fact]
    public async Task Who_lists_everyone_online_server_first_on_server_and_client()
    {
        _carol.Node.Commands.Tell(NodeCommands.Who.Instance);
        var who = await _carol.Log.WaitFor<WhoListed>();
        Assert.Equal(["server", "alice", "bob", "carol"], who.Names);
        _server.Commands.Tell(NodeCommands.Who.Instance);
        Assert.Equal(["server", "alice", "bob", "carol"], (await _serverLog.WaitFor<WhoListed>()).Names);
    }

    [Fact]
    public async Task Join_and_leave_are_announced_to_the_server_and_every_client()
    {
        var (dave, _) = await _nodes.StartClient("dave", _server.Port);
        await _serverLog.WaitFor<PeerJoined>(p => p.Name == "dave");
        await _alice.Log.WaitFor<PeerJoined>(p => p.Name == "dave");
        await _carol.Log.WaitFor<PeerJoined>(p => p.Name == "dave");

        await dave.StopAsync();
        await _serverLog.WaitFor<PeerLeft>(p => p.Name == "dave");
        await _alice.Log.WaitFor<PeerLeft>(p => p.Name == "dave");
        await _bob.Log.WaitFor<PeerLeft>(p => p.Name == "dave");
        _bob.Node.Commands.Tell(NodeCommands.Who.Instance);
        Assert.DoesNotContain("dave", (await _bob.Log.WaitFor<WhoListed>()).Names);
    }

    [Fact]
    public async Task Who_lists_names_in_order_whatever_order_they_came_and_went_in()
    {
        var (zoe, _) = await _nodes.StartClient("zoe", _server.Port);
        var (ben, _) = await _nodes.StartClient("Ben", _server.Port);
        await _nodes.StartClient("ada", _server.Port);
        await ben.StopAsync();
        await _serverLog.WaitFor<PeerLeft>(p => p.Name == "Ben");
        var (dan, danLog) = await _nodes.StartClient("dan", _server.Port);
        dan.Commands.Tell(NodeCommands.Who.Instance);
        Assert.Equal(["server", "ada", "alice", "bob", "carol", "dan", "zoe"], (await danLog.WaitFor<WhoListed>()).Names);
        await zoe.StopAsync();
        await _serverLog.WaitFor<PeerLeft>(p => p.Name == "zoe");
        var mark = danLog.Mark();
        dan.Commands.Tell(NodeCommands.Who.Instance);
        Assert.Equal(["server", "ada", "alice", "bob", "carol", "dan"], (await danLog.WaitFor<WhoListed>(after: mark)).Names);
    }

    [Fact]
    public async Task Joining_client_learns_who_is_already_there()
    {
        var (eve, eveLog) = await _nodes.StartClient("eve", _server.Port);
        eve.Commands.Tell(NodeCommands.Who.Instance);
        Assert.Equal(["server", "alice", "bob", "carol", "eve"], (await eveLog.WaitFor<WhoListed>()).Names);
        Assert.Equal("server", eve.ServerName);
    }

    [Fact]
    public async Task A_second_client_asking_for_a_taken_name_is_refused_clearly()
    {
        var ex = await Assert.ThrowsAsync<NodeStartException>(() => _nodes.StartClient("Alice", _server.Port));
        Assert.Equal(StartFailure.Refused, ex.Kind);
        Assert.Contains("name 'alice' is already taken", ex.Message, StringComparison.Ordinal);
        var serverName = await Assert.ThrowsAsync<NodeStartException>(() => _nodes.StartClient("server", _server.Port));
        Assert.Contains("taken", serverName.Message, StringComparison.Ordinal);

        // The original alice is untouched.
        _bob.Node.Commands.Tell(new NodeCommands.SayTo("alice", "still you?"));
        await _alice.Log.WaitFor<ChatReceived>(c => c.Text == "still you?");
    }

    [Fact]
    public async Task Many_clients_joining_at_once_each_get_their_welcome_before_anything_else()
    {
        // Presence frames for the others race each newcomer's own Welcome; a client that saw one first would drop
        // the connection ("expected Welcome"). Thirty at once make that race near certain if it exists.
        var clients = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => _nodes.StartClient($"crowd{i}", _server.Port)));
        foreach (var (_, log) in clients) Assert.Empty(log.All<Disconnected>());
        _alice.Node.Commands.Tell(new NodeCommands.Say("hello crowd"));
        foreach (var (_, log) in clients) await log.WaitFor<ChatReceived>(c => c.Text == "hello crowd");
    }

    [Fact]
    public async Task Above_the_presence_limit_joins_are_not_announced_but_the_server_still_sees_them()
    {
        await using var nodes = new TestNodes();
        var (server, serverLog) = await nodes.StartServer(("chat.presence-limit", "2"));
        var (_, firstLog) = await nodes.StartClient("first", server.Port);
        var (_, secondLog) = await nodes.StartClient("second", server.Port);
        await firstLog.WaitFor<PeerJoined>(p => p.Name == "second");   // 2 online: announced
        var (third, thirdLog) = await nodes.StartClient("third", server.Port);  // 3 online: quiet
        await serverLog.WaitFor<PeerJoined>(p => p.Name == "third");
        // Its Welcome lists as many names as are announced (the server and "first"), then how many it left out.
        Assert.Equal(["server", "first", "(+2 more)"], (await thirdLog.WaitFor<Connected>()).Online);
        third.Commands.Tell(NodeCommands.Who.Instance);
        Assert.Equal(["server", "first", "second", "third"], (await thirdLog.WaitFor<WhoListed>()).Names);
        third.Commands.Tell(new NodeCommands.Say("I am here"));
        await firstLog.WaitFor<ChatReceived>(c => c.Text == "I am here");
        Assert.DoesNotContain(firstLog.All<PeerJoined>(), p => p.Name == "third");
        Assert.DoesNotContain(secondLog.All<PeerJoined>(), p => p.Name == "third");
    }
}

public sealed class ChatOverTlsTests() : ChatTests(tls: true);

public sealed class ChatInTheClearTests() : ChatTests(tls: false);
