using System.Globalization;
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
    public async Task A_paste_of_300_lines_from_a_client_that_ignores_the_pace_arrives_whole_and_in_order()
    {
        // Default limits (20 lines a second, bursts of 200): the raw client sends all 300 at once, as a paste into a
        // client that does not pace itself would. The server slows it down instead of refusing anything.
        var (server, _) = await _nodes.StartServer();
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port);
        await using var paster = await RawClient.JoinAsync(server.Port, "paster");
        Assert.Equal((20, 200), (paster.Welcome!.Limits.ChatPerSecond, paster.Welcome.Limits.ChatBurst));
        await paster.SendRawAsync([.. Enumerable.Range(1, 300).SelectMany(i => FrameEncoder.Encode(new Protocol.Say((uint)i, "", $"line {i:000}")))]);
        // Every line is acknowledged, in order; none refused. 100 lines beyond the burst take 5 s at 20 a second.
        var acks = new List<uint>();
        while (acks.Count < 300)
        {
            var frame = await paster.ReceiveAsync(TimeSpan.FromSeconds(15));
            Assert.False(frame is SayRefused or Error or Goodbye or null, $"after {acks.Count} acks: {frame}");
            if (frame is SayAck ack) acks.Add(ack.Id);
        }
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (uint)i), acks);
        await bobLog.WaitFor<ChatReceived>(c => c.Text == "line 300", timeout: TimeSpan.FromSeconds(15));
        var lines = bobLog.All<ChatReceived>().Where(c => c.From == "paster").ToList();
        Assert.Equal(Enumerable.Range(1, 300).Select(i => $"line {i:000}"), lines.Select(c => c.Text));
        // Paced, not dropped: the server's own time stamps show the lines beyond the burst spread at its rate.
        var spread = lines[^1].At - lines[200].At;
        Assert.InRange(spread.TotalSeconds, 4.0, 15);
    }

    [Fact]
    public async Task A_chat_flood_past_the_backlog_is_refused_line_by_line_then_disconnected_while_everyone_else_chats_on()
    {
        var (server, _) = await _nodes.StartServer(("limits.chat-per-second", "5"), ("limits.chat-burst", "5"), ("limits.backlog", "20"),
            ("limits.excess-tolerance", "10"));
        var (alice, aliceLog) = await _nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port);
        var (flooder, frames) = await FloodUntilClosed(server.Port, "flooder", i => new Protocol.Say((uint)i, "", $"flood {i}"), 500);
        await using (flooder)
        {
            // Past the backlog every line is refused by its id (never silently dropped)...
            var refused = frames.OfType<SayRefused>().ToList();
            Assert.NotEmpty(refused);
            Assert.All(refused, r => Assert.Equal(WireCode.RateLimited, r.Code));
            Assert.Contains("more than 20 requests were waiting for their rate", refused[0].Reason, StringComparison.Ordinal);
            Assert.Equal(refused.Select(r => r.Id).Order(), refused.Select(r => r.Id));
            // Line 0 is with the registry and 20 wait behind it: the first refused comes after them.
            Assert.True(refused[0].Id >= 21, $"the first refused is {refused[0].Id}");
            // ...and no Error besides (each line has its own answer), then the Goodbye.
            Assert.DoesNotContain(frames, f => f is Error);
            var bye = Assert.IsType<Goodbye>(frames.Last());
            Assert.Equal(WireCode.RateLimited, bye.Code);
            // No refused line reached bob, every line acknowledged did, and nothing beyond the rate got through (the
            // connection was closed while lines still waited: those were neither passed on nor acknowledged).
            await bobLog.WaitFor<Events.PeerLeft>(p => p.Name == "flooder");
            alice.Commands.Tell(new NodeCommands.Say("still here"));
            await bobLog.WaitFor<ChatReceived>(c => c.Text == "still here");
            var atBob = bobLog.All<ChatReceived>().Where(c => c.From == "flooder").Select(c => uint.Parse(c.Text[6..], CultureInfo.InvariantCulture)).ToList();
            Assert.DoesNotContain(atBob, refused.Select(r => r.Id).Contains);
            Assert.All(frames.OfType<SayAck>(), a => Assert.Contains(a.Id, atBob));
            Assert.InRange(atBob.Count, 0, 7);
        }
    }

    [Fact]
    public async Task Who_requests_beyond_their_rate_wait_their_turn_and_a_flood_past_the_backlog_ends_in_a_goodbye()
    {
        var (server, _) = await _nodes.StartServer(("limits.who-per-second", "20"), ("limits.who-burst", "2"), ("limits.backlog", "20"),
            ("limits.excess-tolerance", "20"));
        await using var asker = await RawClient.JoinAsync(server.Port, "asker");
        // Ten at once: the burst of two is answered at once, the other eight as the rate allows; none refused.
        await asker.SendRawAsync([.. Enumerable.Range(0, 10).SelectMany(_ => FrameEncoder.Encode(WhoRequest.Instance))]);
        for (var i = 0; i < 10; i++) await asker.Expect<WhoReply>();
        // A chat line to nobody is answered (refused) right after the last of them: nothing else came between.
        await asker.SendAsync(new Protocol.Say(1, "nobody-here", "marker"));
        var frames = new List<Frame>();
        while (await asker.ReceiveAsync() is { } frame and not SayRefused) frames.Add(frame);
        Assert.DoesNotContain(frames, f => f is Error or Goodbye or WhoReply);
        // Kept up far past the backlog, it is disconnected.
        await asker.SendRawAsync([.. Enumerable.Range(0, 200).SelectMany(_ => FrameEncoder.Encode(WhoRequest.Instance))]);
        var after = await asker.ReceiveUntilClosedAsync();
        Assert.Contains(after, f => f is Error { Code: WireCode.RateLimited });
        Assert.Equal(WireCode.RateLimited, Assert.IsType<Goodbye>(after.Last()).Code);
    }

    [Fact]
    public async Task An_offer_flood_is_answered_with_rejects_and_ends_in_a_goodbye()
    {
        var (server, serverLog) = await _nodes.StartServer(("limits.offers-per-second", "2"), ("limits.offers-burst", "2"), ("limits.excess-tolerance", "10"),
            ("limits.backlog", "20"), ("downloads", Directory.CreateTempSubdirectory("att-offers-").FullName));
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
    public async Task Offers_beyond_their_rate_wait_their_turn_and_a_cancel_right_behind_one_is_not_overtaken()
    {
        var (server, serverLog) = await _nodes.StartServer(("limits.offers-per-second", "20"), ("limits.offers-burst", "2"),
            ("downloads", Directory.CreateTempSubdirectory("att-offers-").FullName));
        await using var raw = await RawClient.JoinAsync(server.Port, "offerer");
        Assert.Equal((20, 2), (raw.Welcome!.Limits.OffersPerSecond, raw.Welcome.Limits.OffersBurst));
        // Ten offers at once, then a Cancel of the last: the eight beyond the burst wait (a tenth of a second each), and
        // the Cancel waits behind its offer instead of arriving before it (it would be dropped, leaving the offer alive).
        var frames = Enumerable.Range(1, 10).Select(i => (Frame)new Offer((uint)i, "", [], "server", $"o{i}.bin", 10, 1))
            .Append(new Cancel(10, "", "changed my mind"));
        await raw.SendRawAsync([.. frames.SelectMany(FrameEncoder.Encode)]);
        // Offers admitted together are answered by receivers of their own, in whatever order they finish.
        var accepted = new HashSet<uint>();
        while (accepted.Count < 9) accepted.Add((await raw.Expect<Accept>(a => a.Id is >= 1 and <= 9)).Id);
        var cancelled = await serverLog.WaitFor<TransferCancelled>(c => c.Id == TransferIds.Format(10));
        Assert.Equal("offerer", cancelled.By);
        Assert.DoesNotContain(serverLog.All<TransferFailed>(), f => f.Id == TransferIds.Format(10));
        Assert.Empty(serverLog.All<ErrorOccurred>());
    }

    [Fact]
    public async Task A_broadcast_costs_its_sender_one_token_per_recipient_and_waits_for_them_rather_than_being_refused()
    {
        // Three people can be reached per second, four at once: a broadcast to bob and carol costs two, so two pass at
        // once and the third waits until its two tokens are back (2/3 s).
        var (server, serverLog) = await _nodes.StartServer(("limits.fanout-per-second", "3"), ("limits.fanout-burst", "4"));
        var (alice, aliceLog) = await _nodes.StartClient("alice", server.Port);
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port);
        var (carol, _) = await _nodes.StartClient("carol", server.Port);
        await aliceLog.WaitFor<PeerJoined>(p => p.Name == "carol");
        foreach (var text in new[] { "one", "two", "three" }) alice.Commands.Tell(new NodeCommands.Say(text));
        var three = await bobLog.WaitFor<ChatReceived>(c => c.Text == "three");
        var two = bobLog.All<ChatReceived>().Single(c => c.Text == "two");
        Assert.InRange((three.At - two.At).TotalMilliseconds, 550, 5000);
        Assert.Equal(["one", "two", "three"], (await aliceLog.WaitForCount<ChatSent>(3)).Select(c => c.Text));
        Assert.Empty(aliceLog.All<ChatNotSent>());
        Assert.Empty(aliceLog.All<ErrorOccurred>());
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
        var heard = await Task.WhenAll(silent.Select(c => c.ReceiveUntilQuietAsync(TimeSpan.FromSeconds(1), allowClose: true)));
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
    public async Task After_a_wrong_token_the_address_is_refused_at_once_saying_how_long_to_wait()
    {
        // The waits themselves, their doubling and their end are AdmissionTests' (with the time passed in): here, that
        // the listener applies them to the next connection from that address, and not to another address.
        var (server, _) = await _nodes.StartServer(("token", "sesame"), ("server.penalty-min", "30s"), ("server.penalty-max", "60s"));
        async Task<Refused> Try(string token, IPAddress? from = null)
        {
            await using var raw = await RawClient.ConnectAsync(server.Port, from: from);
            await raw.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "guesser", token, []));
            return Assert.IsType<Refused>(await raw.ReceiveAsync());
        }
        Assert.Equal("wrong token", (await Try("guess1")).Reason);
        var waiting = await Try("sesame");
        Assert.Equal(WireCode.BadToken, waiting.Code);
        Assert.Contains("too many wrong tokens from 127.0.0.1; try again in 30 s", waiting.Reason, StringComparison.Ordinal);
        // Another address is heard (and its wrong guess refused for what it is).
        Assert.Equal("wrong token", (await Try("guess2", IPAddress.Parse("127.0.0.2"))).Reason);
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
