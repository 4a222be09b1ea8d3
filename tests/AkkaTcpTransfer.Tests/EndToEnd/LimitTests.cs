using System.Net;
using System.Net.Sockets;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer;
using PeerJoined = AkkaTcpTransfer.Events.PeerJoined;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>What one hostile or careless peer can make the server do is bounded: its request rates, the fan-out of its
/// broadcasts, how many connections its address may open and hold in their handshake, how fast it may guess tokens.
/// Each bound is set low here so that a test reaches it quickly; every other client carries on.</summary>
public sealed class LimitTests : IAsyncDisposable
{
    private readonly TestNodes _nodes = new();

    public async ValueTask DisposeAsync() => await _nodes.DisposeAsync();

    private static async Task<(RawClient Client, List<Frame> Frames)> FloodUntilClosed(int port, string name, Func<int, Frame> frame, int count)
    {
        var raw = await RawClient.JoinAsync(port, name);
        var bytes = Enumerable.Range(0, count).SelectMany(i => FrameEncoder.Encode(frame(i))).ToArray();
        try
        {
            await raw.SendRawAsync(bytes);
        }
        catch (SocketException)
        {
            // the server may close before taking it all
        }
        return (raw, await raw.ReceiveUntilClosedAsync());
    }

    [Fact]
    public async Task A_chat_flood_is_refused_then_disconnected_while_everyone_else_chats_on()
    {
        var (server, serverLog) = await _nodes.StartServer(("limits.chat-per-second", "5"), ("limits.chat-burst", "5"), ("limits.excess-tolerance", "10"));
        var (alice, aliceLog) = await _nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port);
        var (flooder, frames) = await FloodUntilClosed(server.Port, "flooder", i => new Protocol.Say("", $"flood {i}"), 500);
        await using (flooder)
        {
            var error = Assert.IsType<Error>(frames.First(f => f is Error));
            Assert.Equal(WireCode.RateLimited, error.Code);
            Assert.Contains("at most 5 messages per second", error.Message, StringComparison.Ordinal);
            // One Error for the whole burst of refusals (at most one a second), then the Goodbye.
            Assert.Single(frames, f => f is Error);
            var bye = Assert.IsType<Goodbye>(frames.Last());
            Assert.Equal(WireCode.RateLimited, bye.Code);
        }
        // Of 500 lines, the burst of 5 (and what the rate refilled meanwhile) got through; nothing more.
        await bobLog.WaitFor<Events.PeerLeft>(p => p.Name == "flooder");
        Assert.InRange(bobLog.All<ChatReceived>().Count(c => c.From == "flooder"), 5, 7);
        alice.Commands.Tell(new NodeCommands.Say("still here"));
        await bobLog.WaitFor<ChatReceived>(c => c.Text == "still here");
    }

    [Fact]
    public async Task A_who_flood_gets_its_burst_answered_then_one_error_then_a_goodbye()
    {
        var (server, _) = await _nodes.StartServer(("limits.who-per-second", "1"), ("limits.who-burst", "2"), ("limits.excess-tolerance", "20"));
        await using var asker = await RawClient.JoinAsync(server.Port, "asker");
        // Ten at once: the burst of two is answered, the rest refused with a single Error; the connection stays.
        await asker.SendRawAsync([.. Enumerable.Range(0, 10).SelectMany(_ => FrameEncoder.Encode(WhoRequest.Instance))]);
        var frames = await asker.ReceiveUntilQuietAsync(TimeSpan.FromMilliseconds(700));
        Assert.Equal(2, frames.Count(f => f is WhoReply));
        Assert.Equal(WireCode.RateLimited, Assert.IsType<Error>(Assert.Single(frames, f => f is Error)).Code);
        Assert.DoesNotContain(frames, f => f is Goodbye);
        // Kept up, it is disconnected.
        await asker.SendRawAsync([.. Enumerable.Range(0, 100).SelectMany(_ => FrameEncoder.Encode(WhoRequest.Instance))]);
        Assert.Equal(WireCode.RateLimited, Assert.IsType<Goodbye>((await asker.ReceiveUntilClosedAsync()).Last()).Code);
    }

    [Fact]
    public async Task An_offer_flood_is_answered_with_rejects_and_ends_in_a_goodbye()
    {
        var (server, serverLog) = await _nodes.StartServer(("limits.offers-per-second", "2"), ("limits.offers-burst", "2"), ("limits.excess-tolerance", "10"),
            ("downloads", Directory.CreateTempSubdirectory("att-offers-").FullName));
        var (flooder, frames) = await FloodUntilClosed(server.Port, "offerer", i => new Offer((uint)(i + 1), "", [], "server", $"f{i}.bin", 10, 1), 200);
        await using (flooder)
        {
            Assert.Contains(frames, f => f is Reject r && r.Reason.Contains("too many offers", StringComparison.Ordinal));
            Assert.Equal(WireCode.RateLimited, Assert.IsType<Goodbye>(frames.Last()).Code);
        }
        // The burst became transfers (each ends, its sender gone); nothing beyond the burst and the refill did.
        await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(1));
        await serverLog.WaitFor<TransferFailed>(f => f.Id == TransferIds.Format(2));
        Assert.InRange(serverLog.All<TransferOffered>().Count(), 2, 4);
    }

    [Fact]
    public async Task A_broadcast_costs_its_sender_one_token_per_recipient()
    {
        // Three people can be reached per second, four at once: a broadcast to bob and carol costs two, so two pass at
        // once and a third does not.
        var (server, serverLog) = await _nodes.StartServer(("limits.fanout-per-second", "3"), ("limits.fanout-burst", "4"));
        var (alice, aliceLog) = await _nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port);
        var (carol, _) = await _nodes.StartClient("carol", server.Port);
        await aliceLog.WaitFor<PeerJoined>(p => p.Name == "carol");
        var mark = aliceLog.Mark();
        foreach (var text in new[] { "one", "two", "three" }) alice.Commands.Tell(new NodeCommands.Say(text));
        var error = await aliceLog.WaitFor<ErrorOccurred>(after: mark);
        Assert.Contains("you may reach 3 people per second, and it would reach 2", error.Message, StringComparison.Ordinal);
        await bobLog.WaitFor<ChatReceived>(c => c.Text == "two");
        Assert.DoesNotContain(bobLog.All<ChatReceived>(), c => c.Text == "three");
        Assert.DoesNotContain(serverLog.All<ChatReceived>(), c => c.Text == "three");
    }

    [Fact]
    public async Task Connections_beyond_the_per_address_limits_are_refused_with_the_reason()
    {
        var (server, _) = await _nodes.StartServer(("server.max-connections-per-address", "3"), ("server.max-handshakes-per-address", "2"),
            ("server.handshake-timeout", "10s"));
        // Three connections that say nothing: two may be in their handshake, the third is one too many. (Which one is
        // the third is up to the order the listener sees them in.)
        var silent = new List<RawClient>();
        for (var i = 0; i < 3; i++) silent.Add(await RawClient.ConnectAsync(server.Port));
        var heard = await Task.WhenAll(silent.Select(c => c.ReceiveUntilQuietAsync(TimeSpan.FromSeconds(1))));
        var refusedIndex = Array.FindIndex(heard, frames => frames.Count > 0);
        var refused = Assert.IsType<Refused>(Assert.Single(heard[refusedIndex]));
        Assert.Equal(WireCode.ServerFull, refused.Code);
        Assert.Contains("still in their handshake (at most 2)", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(1, heard.Count(frames => frames.Count > 0));
        await silent[refusedIndex].DisposeAsync();
        silent.RemoveAt(refusedIndex);
        await using var silent1 = silent[0];
        await using var silent2 = silent[1];
        // Once they are in, they no longer count as handshakes; the address may still hold three connections.
        await silent1.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "one", "", []));
        await silent2.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "two", "", []));
        await silent1.Expect<Welcome>();
        await silent2.Expect<Welcome>();
        await using var three = await RawClient.JoinAsync(server.Port, "three");
        await using var fourth = await RawClient.ConnectAsync(server.Port);
        var full = Assert.IsType<Refused>(await fourth.ReceiveAsync());
        Assert.Contains("too many connections from 127.0.0.1 (at most 3)", full.Reason, StringComparison.Ordinal);
        // Another address is not affected by this one's connections.
        await using var other = await RawClient.JoinAsync(server.Port, "elsewhere", from: IPAddress.Parse("127.0.0.2"));
        Assert.NotNull(other.Welcome);
    }

    [Fact]
    public async Task After_a_wrong_token_the_address_must_wait_and_the_wait_doubles()
    {
        var (server, _) = await _nodes.StartServer(("token", "sesame"), ("server.penalty-min", "1s"), ("server.penalty-max", "8s"));
        async Task<Refused> Try(string token)
        {
            await using var raw = await RawClient.ConnectAsync(server.Port);
            await raw.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "guesser", token, []));
            return Assert.IsType<Refused>(await raw.ReceiveAsync());
        }
        Assert.Equal("wrong token", (await Try("guess1")).Reason);
        // At once again: not even heard.
        var waiting = await Try("guess2");
        Assert.Equal(WireCode.BadToken, waiting.Code);
        Assert.Contains("too many wrong tokens from 127.0.0.1; try again in 1 s", waiting.Reason, StringComparison.Ordinal);
        // After the wait (1 s) a guess is heard again; the next wait is twice as long (2 s), so half a second later the
        // address is still refused. (Waiting for time to pass is what is tested here.)
        await Task.Delay(TimeSpan.FromMilliseconds(1200));
        Assert.Equal("wrong token", (await Try("guess3")).Reason);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Contains("try again in", (await Try("guess4")).Reason, StringComparison.Ordinal);
        // The right token after the wait gets in, and clears the record.
        await Task.Delay(TimeSpan.FromMilliseconds(2000));
        await using var ok = await RawClient.JoinAsync(server.Port, "knower", "sesame");
        Assert.NotNull(ok.Welcome);
    }

    [Fact]
    public async Task A_hello_whose_frame_limit_cannot_hold_a_chat_line_is_refused_with_the_minimum()
    {
        var (server, _) = await _nodes.StartServer();
        await using var raw = await RawClient.ConnectAsync(server.Port);
        await raw.SendAsync(new Hello(ProtocolLimits.Version, 4096, "tiny", "", []));
        var refused = Assert.IsType<Refused>(await raw.ReceiveAsync());
        Assert.Equal(WireCode.ProtocolViolation, refused.Code);
        Assert.Contains("frames of up to 17408 bytes", refused.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ping_before_hello_and_a_resume_key_of_the_wrong_length_are_refused()
    {
        var (server, _) = await _nodes.StartServer();
        await using (var raw = await RawClient.ConnectAsync(server.Port))
        {
            await raw.SendAsync(Ping.Instance);
            var refused = Assert.IsType<Refused>(Assert.Single(await raw.ReceiveUntilClosedAsync()));
            Assert.Equal(WireCode.ProtocolViolation, refused.Code);
            Assert.Contains("expected Hello first, got Ping", refused.Reason, StringComparison.Ordinal);
        }
        await using (var raw = await RawClient.ConnectAsync(server.Port))
        {
            await raw.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "shortkey", "", [1, 2, 3]));
            var refused = Assert.IsType<Refused>(Assert.Single(await raw.ReceiveUntilClosedAsync()));
            Assert.Contains("16 to 64 bytes, not 3", refused.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Names_that_look_alike_are_taken_and_so_is_anything_like_the_servers_name()
    {
        var (server, _) = await _nodes.StartServer();
        var (alice, _) = await _nodes.StartClient("alice", server.Port);
        foreach (var (name, expected) in new[]
                 {
                     ("\u0430lice", "looks like 'alice'"),          // Cyrillic а
                     ("\uff41\uff4c\uff49\uff43\uff45", "looks like 'alice'"), // fullwidth
                     ("ALICE", "name 'alice' is already taken"),
                     ("\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e", "looks like 'alice'"), // mathematical bold
                     ("serv\u0435r", "it is the server's"),          // Cyrillic е

                 })
        {
            await using var raw = await RawClient.ConnectAsync(server.Port);
            await raw.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, name, "", []));
            var refused = Assert.IsType<Refused>(await raw.ReceiveAsync());
            Assert.Equal(WireCode.NameTaken, refused.Code);
            Assert.Contains(expected, refused.Reason, StringComparison.Ordinal);
        }
    }
}

/// <summary>Peers that never read, while others broadcast: what the server holds for them is bounded by the node's
/// send budget; they are dropped, stalled ones first, and the readers lose nothing.</summary>
public sealed class SlowReaderTests : IAsyncDisposable
{
    private readonly TestNodes _nodes = new();

    public async ValueTask DisposeAsync() => await _nodes.DisposeAsync();

    [Fact]
    public async Task Readers_that_never_read_are_dropped_at_the_node_budget_and_the_others_get_everything()
    {
        var (server, serverLog) = await _nodes.StartServer(("connection.node-send-budget", "2m"), ("connection.max-send-queue", "64m"), ("connection.write-timeout", "120s"),
            ("transfer.window", "64k"), ("limits.chat-per-second", "100000"), ("limits.chat-burst", "100000"),
            ("limits.fanout-per-second", "1000000"), ("limits.fanout-burst", "1000000"));
        var (alice, _) = await _nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port);
        var sleepers = new List<RawClient>();
        for (var i = 0; i < 6; i++) sleepers.Add(await RawClient.JoinAsync(server.Port, $"sleeper{i}", receiveBuffer: 4096));
        try
        {
            await bobLog.WaitFor<Events.PeerJoined>(p => p.Name == "sleeper5");
            var text = new string('z', 16_000);
            const int Messages = 300; // 4.8 MB to each sleeper: more than the whole budget
            for (var i = 0; i < Messages; i++) alice.Commands.Tell(new NodeCommands.Say($"{i:000} {text}"));
            await bobLog.WaitFor<ChatReceived>(c => c.Text.StartsWith($"{Messages - 1:000} ", StringComparison.Ordinal), timeout: TimeSpan.FromSeconds(60));
            for (var i = 0; i < 6; i++) await serverLog.WaitFor<Events.PeerLeft>(p => p.Name == $"sleeper{i}", timeout: TimeSpan.FromSeconds(30));
            // bob read everything, in order, and was never dropped.
            Assert.Equal(Enumerable.Range(0, Messages).Select(i => $"{i:000}"),
                bobLog.All<ChatReceived>().Where(c => c.From == "alice").Select(c => c.Text[..3]));
            Assert.Empty(bobLog.All<Disconnected>());
            // What is left held is within the budget.
            Assert.True(Tcp.SendBudget.Get(server.System).Total <= 2L << 20);
        }
        finally
        {
            foreach (var s in sleepers) await s.DisposeAsync();
        }
    }
}
