using System.Net;
using Akka.Actor;
using Akka.IO;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>The connection actor against a TestProbe playing Akka.IO's connection: exact control over what is
/// "received", when a read is asked for, and when writes are acknowledged.</summary>
public sealed class ConnectionActorTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static readonly EndPoint Remote = new IPEndPoint(IPAddress.Loopback, 40000);

    private static NodeSettings Settings(params (string, string)[] overrides) =>
        NodeSettings.Read(NodeConfig.Build(NodeRole.Server, overrides), NodeRole.Server);

    /// <summary>An accepted connection, its handshake done unless <paramref name="handshakeDone"/> is false. The test
    /// actor is the parent (the connection's owner) and receives what the owner would.</summary>
    private (IActorRef Connection, TestProbe Tcp) Start(bool handshakeDone = true, params (string, string)[] overrides)
    {
        var tcp = CreateTestProbe();
        var connection = ChildActorOf(ConnectionActor.Accepted(tcp.Ref, Remote, Settings(overrides), security: null));
        var register = tcp.ExpectMsg<Akka.IO.Tcp.Register>();
        Assert.Equal(connection, register.Handler);
        // Pull mode: nothing is read until the connection asks.
        tcp.ExpectMsg<Akka.IO.Tcp.ResumeReading>();
        if (handshakeDone) connection.Tell(ConnectionMessages.HandshakeDone.Instance);
        return (connection, tcp);
    }

    private (IActorRef Connection, TestProbe Tcp) Start(params (string, string)[] overrides) => Start(true, overrides);

    private static List<Frame> Decode(params Akka.IO.Tcp.Write[] writes)
    {
        var frames = new List<Frame>();
        var decoder = new FrameDecoder(1 << 20);
        foreach (var w in writes) decoder.Decode(w.Data.ToArray(), frames);
        return frames;
    }

    private static Akka.IO.Tcp.Received Received(params Frame[] frames) =>
        new(ByteString.FromBytes(frames.SelectMany(FrameEncoder.Encode).ToArray()));

    /// <summary>The next frame delivered to the owner; read barriers on the way are answered as an owner does.</summary>
    private Frame NextFrame()
    {
        while (true)
        {
            var message = ExpectMsg<object>();
            if (message is ConnectionMessages.FrameReceived f) return f.Frame;
            if (message is ConnectionMessages.Delivered) LastSender.Tell(ConnectionMessages.ReadMore.Instance);
        }
    }

    private static byte[] Chunk(int n) => new byte[n];

    [Fact]
    public void Frames_split_across_arbitrary_received_boundaries_reach_the_owner_whole_and_in_order()
    {
        var (connection, _) = Start(("connection.read-ahead", "64"));
        var bytes = FrameEncoder.Encode(new Protocol.Say(1, "", "first"))
            .Concat(FrameEncoder.Encode(new Protocol.Chunk(3, 0, Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray())))
            .Concat(FrameEncoder.Encode(new Protocol.Say(3, "bob", "third"))).ToArray();
        foreach (var piece in bytes.Chunk(7))
            connection.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes(piece)));

        Assert.Equal("first", ((Protocol.Say)NextFrame()).Text);
        var chunk = (Protocol.Chunk)NextFrame();
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => (byte)i), chunk.Data.ToArray());
        Assert.Equal("third", ((Protocol.Say)NextFrame()).Text);
    }

    [Fact]
    public void The_next_read_waits_until_the_owner_has_handled_what_was_delivered()
    {
        var (connection, tcp) = Start(("connection.read-ahead", "1"));
        connection.Tell(Received(new Protocol.Say(1, "", "one"), new Protocol.Say(2, "", "two")));
        Assert.IsType<ConnectionMessages.FrameReceived>(ExpectMsg<ConnectionMessages.FrameReceived>());
        ExpectMsg<ConnectionMessages.FrameReceived>();
        ExpectMsg<ConnectionMessages.Delivered>();
        // The owner has not confirmed: the socket is left unread, so TCP slows the peer down.
        tcp.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        connection.Tell(ConnectionMessages.ReadMore.Instance);
        tcp.ExpectMsg<Akka.IO.Tcp.ResumeReading>();
    }

    [Fact]
    public void A_senders_acks_go_straight_to_it_while_routed_and_need_no_owner_to_read_on()
    {
        var (connection, tcp) = Start(("connection.read-ahead", "1"));
        var sender = CreateTestProbe();
        var other = CreateTestProbe();
        connection.Tell(new ConnectionMessages.RouteAcks(7, sender.Ref));
        // Acks of transfer 7 only: the sender gets them in order, the owner nothing, and the next read is asked for
        // at once (no barrier waits for an owner that was never told).
        connection.Tell(Received(new Ack(7, 100), new Ack(7, 200)));
        Assert.Equal(100, sender.ExpectMsg<Ack>().Written);
        Assert.Equal(200, sender.ExpectMsg<Ack>().Written);
        tcp.ExpectMsg<Akka.IO.Tcp.ResumeReading>();
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        // Any other frame of that transfer, and another transfer's Ack, still go to the owner, with the barrier.
        connection.Tell(Received(new Verified(7, new byte[32]), new Ack(8, 5)));
        Assert.IsType<Verified>(ExpectMsg<ConnectionMessages.FrameReceived>().Frame);
        Assert.IsType<Ack>(ExpectMsg<ConnectionMessages.FrameReceived>().Frame);
        ExpectMsg<ConnectionMessages.Delivered>();
        connection.Tell(ConnectionMessages.ReadMore.Instance);
        tcp.ExpectMsg<Akka.IO.Tcp.ResumeReading>();
        // Unrouted by someone else (the id routed to another actor meanwhile): the route stays; by its own actor: gone.
        connection.Tell(new ConnectionMessages.UnrouteAcks(7, other.Ref));
        connection.Tell(Received(new Ack(7, 300)));
        Assert.Equal(300, sender.ExpectMsg<Ack>().Written);
        tcp.ExpectMsg<Akka.IO.Tcp.ResumeReading>();
        connection.Tell(new ConnectionMessages.UnrouteAcks(7, sender.Ref));
        connection.Tell(Received(new Ack(7, 400)));
        Assert.Equal(400, ((Ack)ExpectMsg<ConnectionMessages.FrameReceived>().Frame).Written);
        sender.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_peer_over_its_frame_rate_is_read_more_slowly_and_loses_nothing()
    {
        var (connection, tcp) = Start(("connection.max-frames-per-second", "20"), ("connection.read-ahead", "64"));
        // 60 frames at once: three seconds' worth at 20 per second. Every one is delivered...
        var since = System.Diagnostics.Stopwatch.StartNew();
        connection.Tell(Received([.. Enumerable.Range(0, 60).Select(i => new Protocol.Say((uint)i, "", $"{i}"))]));
        for (var i = 0; i < 60; i++) Assert.Equal($"{i}", ((Protocol.Say)NextFrame()).Text);
        // ...but the next read is asked for only once the rate allows (the bucket is 40 frames in debt: 2 s from the
        // frames' arrival, however long reading them here took). Measured from the frames' arrival to the request's,
        // not as a quiet window, which a busy machine can start late and so see the request at its very end.
        tcp.ExpectMsg<Akka.IO.Tcp.ResumeReading>(TimeSpan.FromSeconds(5));
        Assert.True(since.Elapsed >= TimeSpan.FromMilliseconds(1500), $"the next read was asked for after {since.Elapsed}");
    }

    [Fact]
    public void Never_more_writes_outstanding_than_writes_in_flight_and_each_ack_releases_one()
    {
        var (connection, tcp) = Start(("connection.writes-in-flight", "2"));
        for (var i = 0; i < 6; i++) connection.Tell(new ConnectionMessages.Send(new Protocol.Chunk(1, i * 1000L, Chunk(1000))));
        var w1 = tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        var w2 = tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        tcp.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        connection.Tell(w1.Ack, tcp.Ref);
        var w3 = tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        tcp.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Equal([0L, 1000L, 2000L], Decode(w1, w2, w3).Cast<Protocol.Chunk>().Select(c => c.Offset));
    }

    [Fact]
    public void Chat_overtakes_queued_file_data_but_a_transfers_done_never_overtakes_its_chunks()
    {
        var (connection, tcp) = Start(("connection.writes-in-flight", "1"));
        connection.Tell(new ConnectionMessages.Send(new Start(1, 0, 300_000)));
        for (var i = 0; i < 4; i++) connection.Tell(new ConnectionMessages.Send(new Protocol.Chunk(1, i * 60_000L, Chunk(60_000))));
        connection.Tell(new ConnectionMessages.Send(new Done(1, 240_000, new byte[32])));
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("alice", "", 1, "urgent")));
        var frames = new List<Frame>();
        while (frames.Count < 7)
        {
            var write = tcp.ExpectMsg<Akka.IO.Tcp.Write>();
            frames.AddRange(Decode(write));
            connection.Tell(write.Ack, tcp.Ref);
        }
        // The chat line went ahead of the chunks queued before it...
        Assert.True(frames.FindIndex(f => f is Protocol.Chat) < frames.FindLastIndex(f => f is Protocol.Chunk));
        // ...while the transfer's own frames kept their order: Start, the four chunks, then Done.
        Assert.Equal([FrameType.Start, FrameType.Chunk, FrameType.Chunk, FrameType.Chunk, FrameType.Chunk, FrameType.Done],
            frames.Where(f => f is not Protocol.Chat).Select(f => f.Type));
    }

    [Fact]
    public void Chunk_data_is_handed_to_akka_io_without_a_copy()
    {
        var (connection, tcp) = Start();
        var data = Chunk(4096);
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chunk(1, 0, data)));
        var write = tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        data[0] = 42; // mutate after the fact: a zero-copy write sees the change
        Assert.Equal(42, write.Data[FrameEncoder.ChunkHeaderSize]);
    }

    [Fact]
    public void A_protocol_violation_says_goodbye_with_the_reason_closes_and_tells_the_owner()
    {
        var (connection, tcp) = Start();
        Watch(connection);
        connection.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes([0, 0, 0, 1, 0x7f])));
        var bye = Assert.IsType<Goodbye>(Assert.Single(Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>())));
        Assert.Equal(WireCode.ProtocolViolation, bye.Code);
        Assert.Contains("unknown frame type 0x7f", bye.Reason, StringComparison.Ordinal);
        tcp.ExpectMsg<Akka.IO.Tcp.ConfirmedClose>();
        // Closing keeps reading, so that the peer's FIN is seen and the close completes.
        tcp.ExpectMsg<Akka.IO.Tcp.ResumeReading>();
        tcp.Reply(Akka.IO.Tcp.ConfirmedClosed.Instance);
        var closed = ExpectMsg<ConnectionMessages.Closed>();
        Assert.Contains("unknown frame type", closed.Reason, StringComparison.Ordinal);
        // The connection waits for its owner to let it go (what the owner still sends it is not lost to dead letters).
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        connection.Tell(ConnectionMessages.Release.Instance);
        ExpectTerminated(connection);
    }

    [Fact]
    public void Before_the_handshake_a_ping_goes_to_the_owner_and_a_violation_is_answered_with_refused()
    {
        var (connection, tcp) = Start(handshakeDone: false);
        connection.Tell(Received(Ping.Instance));
        // Nothing but the handshake may come first: the owner sees the Ping and refuses it.
        Assert.IsType<Ping>(NextFrame());
        connection.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, "expected Hello first, got Ping"));
        var refused = Assert.IsType<Refused>(Assert.Single(Decode(tcp.FishForMessage<Akka.IO.Tcp.Write>(_ => true))));
        Assert.Equal(WireCode.ProtocolViolation, refused.Code);
    }

    [Fact]
    public void A_frame_longer_than_the_configured_limit_is_a_violation()
    {
        var (connection, tcp) = Start(("protocol.max-frame-size", "2k"), ("chat.max-message-bytes", "512"), ("transfer.chunk-size", "1k"), ("transfer.window", "1k"));
        connection.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes(FrameEncoder.Encode(new Protocol.Chunk(1, 0, Chunk(2048))))));
        var bye = Assert.IsType<Goodbye>(Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>())[0]);
        Assert.Contains("exceeds the maximum of 2048", bye.Reason, StringComparison.Ordinal);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // the oversize frame itself never reaches the owner
    }

    [Fact]
    public void A_peer_that_stops_reading_is_dropped_when_the_send_queue_limit_is_reached()
    {
        var (connection, tcp) = Start(("connection.writes-in-flight", "1"), ("connection.max-send-queue", "64k"),
            ("transfer.chunk-size", "16k"), ("transfer.window", "16k"), ("transfer.max-window", "16k"), ("transfer.max-concurrent-receives", "1"));
        // Writes are never acknowledged: the peer's receive window is full. The queue must not grow without bound.
        for (var i = 0; i < 5; i++) connection.Tell(new ConnectionMessages.Send(new Protocol.Chunk(1, i * 30_000L, Chunk(30_000))));
        tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        var bye = (Goodbye)Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>())[0];
        Assert.Equal(WireCode.SlowConsumer, bye.Code);
        Assert.Contains("more than 64.0 KiB waited", bye.Reason, StringComparison.Ordinal);
        tcp.ExpectMsg<Akka.IO.Tcp.ConfirmedClose>();
    }

    [Fact]
    public void A_slow_consumers_goodbye_is_not_lost_behind_its_backlog()
    {
        var (connection, tcp) = Start(("connection.writes-in-flight", "1"), ("connection.max-send-queue", "1m"),
            ("transfer.window", "16k"), ("transfer.max-window", "16k"), ("transfer.chunk-size", "16k"));
        // 600 chat frames of 2 KB, never acknowledged: the backlog passes the 1 MiB limit.
        for (var i = 0; i < 600; i++) connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("a", "", 0, new string('x', 2000))));
        var writes = new List<Akka.IO.Tcp.Write>();
        tcp.FishForMessage<object>(m =>
        {
            if (m is Akka.IO.Tcp.Write w) writes.Add(w);
            return m is Akka.IO.Tcp.ConfirmedClose;
        }, TimeSpan.FromSeconds(5));
        // The Goodbye went out, and what was flushed before it stayed well under Akka.IO's 4 MiB write queue.
        var frames = Decode([.. writes]);
        Assert.Equal(WireCode.SlowConsumer, Assert.IsType<Goodbye>(frames[^1]).Code);
        Assert.True(writes.Sum(w => w.Data.Count) < 512 * 1024, $"{writes.Sum(w => w.Data.Count)} bytes handed over while closing");
    }

    [Fact]
    public void A_peer_that_takes_nothing_for_the_write_timeout_is_dropped()
    {
        var (connection, tcp) = Start(("connection.keepalive-interval", "50ms"), ("connection.idle-timeout", "10s"), ("connection.write-timeout", "300ms"));
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("a", "", 0, "hello?")));
        tcp.ExpectMsg<Akka.IO.Tcp.Write>(); // never acknowledged
        var bye = tcp.FishForMessage<Akka.IO.Tcp.Write>(w => Decode(w).Any(f => f is Goodbye), TimeSpan.FromSeconds(5));
        var goodbye = Decode(bye).OfType<Goodbye>().Single();
        Assert.Equal(WireCode.SlowConsumer, goodbye.Code);
        Assert.Contains("took nothing", goodbye.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_frame_above_the_peers_limit_is_refused_to_whoever_asked_and_later_frames_still_go()
    {
        var (connection, tcp) = Start();
        connection.Tell(new ConnectionMessages.PeerLimits(1024));
        var asker = CreateTestProbe();
        var big = new Protocol.Chat("a", "", 0, new string('x', 2000));
        connection.Tell(new ConnectionMessages.Send(big), asker.Ref);
        var failed = asker.ExpectMsg<ConnectionMessages.SendFailed>();
        Assert.Same(big, failed.Frame);
        Assert.Contains("larger than the peer accepts (1024 bytes)", failed.Reason, StringComparison.Ordinal);
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("a", "", 0, "fits")));
        Assert.Equal("fits", ((Protocol.Chat)Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>())[0]).Text);
    }

    [Fact]
    public void Over_the_node_budget_the_stalled_connection_holding_most_is_closed_and_the_reader_is_not()
    {
        // Two connections of one node; budget 200 KiB. The stalled one never gets an ack; the reader acks everything.
        var settings = new (string, string)[] { ("connection.node-send-budget", "200k"), ("connection.writes-in-flight", "1") };
        var (stalled, stalledTcp) = Start(settings);
        var (reader, readerTcp) = Start(settings);
        for (var i = 0; i < 3; i++) stalled.Tell(new ConnectionMessages.Send(new Protocol.Chunk(1, i * 50_000L, Chunk(50_000))));
        stalledTcp.ExpectMsg<Akka.IO.Tcp.Write>();
        // The stall must be older than a second before it counts as one.
        stalledTcp.ExpectNoMsg(TimeSpan.FromMilliseconds(1100));
        // The reader takes a burst that crosses the budget; each write is acknowledged at once.
        for (var i = 0; i < 2; i++)
        {
            reader.Tell(new ConnectionMessages.Send(new Protocol.Chunk(2, i * 60_000L, Chunk(60_000))));
            var w = readerTcp.ExpectMsg<Akka.IO.Tcp.Write>();
            reader.Tell(w.Ack, readerTcp.Ref);
        }
        var bye = stalledTcp.FishForMessage<Akka.IO.Tcp.Write>(w => Decode(w).Any(f => f is Goodbye), TimeSpan.FromSeconds(5));
        Assert.Equal(WireCode.SlowConsumer, Decode(bye).OfType<Goodbye>().Single().Code);
        readerTcp.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Pings_are_sent_when_idle_and_swallowed_when_received()
    {
        var (connection, tcp) = Start(("connection.keepalive-interval", "100ms"), ("connection.idle-timeout", "10s"));
        Assert.IsType<Ping>(Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>(TimeSpan.FromSeconds(5)))[0]);
        connection.Tell(Received(Ping.Instance));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void No_ping_is_sent_before_the_handshake_is_done()
    {
        var (_, tcp) = Start(handshakeDone: false, ("connection.keepalive-interval", "50ms"), ("connection.idle-timeout", "10s"));
        tcp.ExpectNoMsg(TimeSpan.FromMilliseconds(400));
    }

    [Fact]
    public void Silence_longer_than_the_idle_timeout_closes_the_connection()
    {
        var (_, tcp) = Start(("connection.keepalive-interval", "50ms"), ("connection.idle-timeout", "300ms"));
        var bye = tcp.FishForMessage<Akka.IO.Tcp.Write>(w => Decode(w).Any(f => f is Goodbye), TimeSpan.FromSeconds(5));
        Assert.Equal(WireCode.IdleTimeout, Decode(bye).OfType<Goodbye>().Single().Code);
    }

    [Fact]
    public void A_failed_write_ends_the_connection_because_the_stream_would_have_a_hole()
    {
        var (connection, tcp) = Start();
        Watch(connection);
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("a", "", 0, "x")));
        var write = tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        tcp.Reply(write.FailureMessage.WithCause(new IOException("Dropping write because queue is full")));
        tcp.ExpectMsg<Akka.IO.Tcp.Abort>();
        Assert.Contains("write failed", ExpectMsg<ConnectionMessages.Closed>().Reason, StringComparison.Ordinal);
        connection.Tell(ConnectionMessages.Release.Instance);
        ExpectTerminated(connection);
    }

    [Fact]
    public void Peer_goodbye_reason_is_reported_when_the_connection_closes()
    {
        var (connection, _) = Start();
        connection.Tell(Received(new Goodbye(WireCode.ServerShutdown, "maintenance")));
        connection.Tell(Akka.IO.Tcp.PeerClosed.Instance);
        var closed = ExpectMsg<ConnectionMessages.Closed>();
        Assert.Equal(WireCode.ServerShutdown, closed.PeerCode);
        Assert.Equal("peer closed the connection: maintenance", closed.Reason);
    }

    [Fact]
    public void Stopping_the_connection_actor_aborts_the_socket()
    {
        var (connection, tcp) = Start();
        Sys.Stop(connection);
        tcp.ExpectMsg<Akka.IO.Tcp.Abort>();
    }
}
