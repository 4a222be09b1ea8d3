using System.Net;
using Akka.IO;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>The connection actor against a TestProbe playing Akka.IO's connection: exact control over what is
/// "received" and when writes are acknowledged.</summary>
public sealed class ConnectionActorTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static readonly EndPoint Remote = new IPEndPoint(IPAddress.Loopback, 40000);

    private static NodeSettings Settings(params (string, string)[] overrides) =>
        NodeSettings.Read(NodeConfig.Build(NodeRole.Server, overrides), NodeRole.Server);

    private (IActorRef Connection, TestProbe Tcp) Start(params (string, string)[] overrides)
    {
        var tcp = CreateTestProbe();
        // The test actor is the parent (the connection's owner) and receives what the owner would.
        var connection = ChildActorOf(ConnectionActor.Accepted(tcp.Ref, Remote, Settings(overrides)));
        var register = tcp.ExpectMsg<Akka.IO.Tcp.Register>();
        Assert.Equal(connection, register.Handler);
        return (connection, tcp);
    }

    private static List<Frame> Decode(params Akka.IO.Tcp.Write[] writes)
    {
        var frames = new List<Frame>();
        var decoder = new FrameDecoder(1 << 20);
        foreach (var w in writes) decoder.Decode(w.Data.ToArray(), frames);
        return frames;
    }

    private static byte[] Chunk(int n) => new byte[n];

    [Fact]
    public void Frames_split_across_arbitrary_received_boundaries_reach_the_owner_whole_and_in_order()
    {
        var (connection, _) = Start();
        var bytes = FrameEncoder.Encode(new Protocol.Say("", "first"))
            .Concat(FrameEncoder.Encode(new Protocol.Chunk(3, 0, Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray())))
            .Concat(FrameEncoder.Encode(new Protocol.Say("bob", "third"))).ToArray();
        foreach (var piece in bytes.Chunk(7))
            connection.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes(piece)));

        Assert.Equal("first", ((Protocol.Say)ExpectMsg<ConnectionMessages.FrameReceived>().Frame).Text);
        var chunk = (Protocol.Chunk)ExpectMsg<ConnectionMessages.FrameReceived>().Frame;
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => (byte)i), chunk.Data.ToArray());
        Assert.Equal("third", ((Protocol.Say)ExpectMsg<ConnectionMessages.FrameReceived>().Frame).Text);
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
    public void Chat_overtakes_every_queued_file_chunk()
    {
        var (connection, tcp) = Start(("connection.writes-in-flight", "1"));
        for (var i = 0; i < 5; i++) connection.Tell(new ConnectionMessages.Send(new Protocol.Chunk(1, i * 60_000L, Chunk(60_000))));
        var first = tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("alice", "", 1, "urgent")));
        tcp.Reply(first.Ack);
        // The very next write starts with the chat frame, although four chunks were queued before it.
        var next = Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>());
        Assert.IsType<Protocol.Chat>(next[0]);
        Assert.Equal(60_000L, Assert.IsType<Protocol.Chunk>(next[1]).Offset);
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
        tcp.Reply(Akka.IO.Tcp.ConfirmedClosed.Instance);
        var closed = ExpectMsg<ConnectionMessages.Closed>();
        Assert.Contains("unknown frame type", closed.Reason, StringComparison.Ordinal);
        ExpectTerminated(connection);
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
            ("transfer.chunk-size", "16k"), ("transfer.window", "16k"), ("transfer.max-concurrent-receives", "1"));
        // Writes are never acknowledged: the peer's receive window is full. The queue must not grow without bound.
        for (var i = 0; i < 5; i++) connection.Tell(new ConnectionMessages.Send(new Protocol.Chunk(1, i * 30_000L, Chunk(30_000))));
        tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        var bye = (Goodbye)Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>())[0];
        Assert.Equal(WireCode.SlowConsumer, bye.Code);
        Assert.Contains("exceeded 65536 bytes", bye.Reason, StringComparison.Ordinal);
        tcp.ExpectMsg<Akka.IO.Tcp.ConfirmedClose>();
    }

    [Fact]
    public void Frames_above_the_peers_limit_are_not_sent()
    {
        var (connection, tcp) = Start();
        connection.Tell(new ConnectionMessages.PeerLimits(1024));
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("a", "", 0, new string('x', 2000))));
        connection.Tell(new ConnectionMessages.Send(new Protocol.Chat("a", "", 0, "fits")));
        Assert.Equal("fits", ((Protocol.Chat)Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>())[0]).Text);
    }

    [Fact]
    public void Pings_are_sent_when_idle_and_swallowed_when_received()
    {
        var (connection, tcp) = Start(("connection.keepalive-interval", "100ms"), ("connection.idle-timeout", "10s"));
        Assert.IsType<Ping>(Decode(tcp.ExpectMsg<Akka.IO.Tcp.Write>(TimeSpan.FromSeconds(5)))[0]);
        connection.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes(FrameEncoder.Encode(Ping.Instance))));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Silence_longer_than_the_idle_timeout_closes_the_connection()
    {
        var (connection, tcp) = Start(("connection.keepalive-interval", "50ms"), ("connection.idle-timeout", "300ms"));
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
        ExpectTerminated(connection);
    }

    [Fact]
    public void Peer_goodbye_reason_is_reported_when_the_connection_closes()
    {
        var (connection, _) = Start();
        connection.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes(FrameEncoder.Encode(new Goodbye(WireCode.ServerShutdown, "maintenance")))));
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

    [Fact]
    public void Incoming_chunks_beyond_the_granted_window_close_the_connection_before_reaching_anyone()
    {
        var (connection, tcp) = Start();
        static Akka.IO.Tcp.Received Frame(Frame f) => new(ByteString.FromBytes(FrameEncoder.Encode(f)));
        connection.Tell(new ConnectionMessages.Send(new Accept(7, 0, [], 1000, 2000)));
        tcp.ExpectMsg<Akka.IO.Tcp.Write>();
        connection.Tell(Frame(new Protocol.Chunk(7, 0, new byte[1000])));
        connection.Tell(Frame(new Protocol.Chunk(7, 1000, new byte[1000])));
        ExpectMsg<ConnectionMessages.FrameReceived>();
        ExpectMsg<ConnectionMessages.FrameReceived>();
        // We acknowledge 1000 bytes: the window now reaches byte 3000, so one more chunk is fine...
        connection.Tell(new ConnectionMessages.Send(new Ack(7, 1000)));
        connection.Tell(Frame(new Protocol.Chunk(7, 2000, new byte[1000])));
        Assert.IsType<Protocol.Chunk>(ExpectMsg<ConnectionMessages.FrameReceived>().Frame);
        // ...and the next is not.
        connection.Tell(Frame(new Protocol.Chunk(7, 3000, new byte[1000])));
        var bye = tcp.FishForMessage<Akka.IO.Tcp.Write>(w => Decode(w).Any(f => f is Goodbye));
        Assert.Contains("ignored the flow-control window of 2000 bytes", Decode(bye).OfType<Goodbye>().Single().Reason, StringComparison.Ordinal);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // the offending chunk was never passed on
    }

    [Fact]
    public void A_chunk_larger_than_granted_closes_the_connection()
    {
        var (connection, tcp) = Start();
        connection.Tell(new ConnectionMessages.Send(new Accept(8, 0, [], 1000, 8000)));
        connection.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes(FrameEncoder.Encode(new Protocol.Chunk(8, 0, new byte[1001])))));
        var bye = tcp.FishForMessage<Akka.IO.Tcp.Write>(w => Decode(w).Any(f => f is Goodbye));
        Assert.Contains("larger than the 1000 bytes granted", Decode(bye).OfType<Goodbye>().Single().Reason, StringComparison.Ordinal);
    }
}
