using Akka.IO;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Tests.Connection;

/// <summary>The parts the connection actor is made of, on their own, with the time passed in.</summary>
public class OutboundQueueTests
{
    private static void Enqueue(OutboundQueue queue, Frame frame)
    {
        var (head, body, release) = OutboundQueue.Encode(frame);
        queue.Enqueue(head, body, release, OutboundQueue.IsData(frame));
    }

    private static List<Frame> Decode(OutboundWrite write)
    {
        var frames = new List<Frame>();
        new FrameDecoder(1 << 20).Decode(write.Segments.SelectMany(s => s.ToArray()).ToArray(), frames);
        return frames;
    }

    [Fact]
    public void Control_frames_overtake_queued_file_data_and_a_transfers_frames_keep_their_order()
    {
        var queue = new OutboundQueue();
        Enqueue(queue, new Start(1, 0, 65536));
        Enqueue(queue, new Chunk(1, 0, new byte[1000]));
        Enqueue(queue, new Chunk(1, 1000, new byte[1000]));
        Enqueue(queue, new Done(1, 2000, new byte[32]));
        Enqueue(queue, new Protocol.Say(1, "", "hi"));
        Enqueue(queue, new Ack(9, 5));
        // Every control frame, then one data frame per write.
        Assert.Equal([FrameType.Say, FrameType.Ack, FrameType.Start], Decode(queue.Next(64 * 1024)!.Value).Select(f => f.Type));
        Assert.Equal([FrameType.Chunk], Decode(queue.Next(64 * 1024)!.Value).Select(f => f.Type));
        Enqueue(queue, new Protocol.Say(2, "", "overtakes"));
        Assert.Equal([FrameType.Say, FrameType.Chunk], Decode(queue.Next(64 * 1024)!.Value).Select(f => f.Type));
        Assert.Equal([FrameType.Done], Decode(queue.Next(64 * 1024)!.Value).Select(f => f.Type));
        Assert.Null(queue.Next(64 * 1024));
    }

    [Fact]
    public void What_is_held_counts_until_acknowledged_and_a_chunks_data_is_not_copied()
    {
        var queue = new OutboundQueue();
        var data = new byte[5000];
        Enqueue(queue, new Chunk(1, 0, data));
        var length = OutboundQueue.Encode(new Chunk(1, 0, data)).Head.Length + data.Length;
        Assert.Equal(length, queue.Held);
        var write = queue.Next(64 * 1024)!.Value;
        Assert.Same(data, write.Segments[^1].Array);
        Assert.Equal((length, 1), (write.Length, queue.InFlight));
        Assert.Equal(length, queue.Held);
        Assert.Equal(length, queue.Acknowledged());
        Assert.Equal((0L, 0), (queue.Held, queue.InFlight));
    }

    [Fact]
    public void A_control_frame_with_a_tail_goes_out_whole_and_in_order_with_the_others()
    {
        // A node link's relayed chunk: a head, then the chunk's data from its own buffer, between two other messages.
        var queue = new OutboundQueue();
        var data = new byte[5000];
        var before = FrameEncoder.Encode(Ping.Instance);
        var head = FrameEncoder.EncodeLinkMessageHead("f", "t", "s", FrameEncoder.EncodeChunkHeader(1, 0, data.Length), data.Length);
        var after = FrameEncoder.Encode(new Goodbye(WireCode.Normal, "bye"));
        queue.Enqueue(before, default, null, data: false);
        queue.Enqueue(head, new ArraySegment<byte>(data), new Chunk(1, 0, data), data: false);
        queue.Enqueue(after, default, null, data: false);
        var write = queue.Next(64 * 1024)!.Value;
        Assert.Equal(4, write.Segments.Count);
        Assert.Same(before, write.Segments[0].Array);
        Assert.Same(head, write.Segments[1].Array);
        Assert.Same(data, write.Segments[2].Array);
        Assert.Same(after, write.Segments[3].Array);
        Assert.Equal(before.Length + head.Length + data.Length + after.Length, write.Length);
        Assert.Equal(write.Length, queue.Acknowledged());
        Assert.Equal(0L, queue.Held);
    }

    [Fact]
    public void A_write_takes_control_frames_up_to_its_budget_but_always_at_least_one()
    {
        var queue = new OutboundQueue();
        for (var i = 0; i < 10; i++) Enqueue(queue, new Protocol.Say((uint)i, "", new string('x', 1000)));
        var first = queue.Next(2500)!.Value;
        Assert.Equal(2, Decode(first).Count);
        var big = new OutboundQueue();
        Enqueue(big, new Protocol.Say(1, "", new string('y', 5000)));
        Assert.Single(Decode(big.Next(100)!.Value));
    }

    [Fact]
    public void Closing_drops_file_data_and_keeps_only_as_much_control_as_it_may_flush()
    {
        var queue = new OutboundQueue();
        Enqueue(queue, new Chunk(1, 0, new byte[1000]));
        for (var i = 0; i < 10; i++) Enqueue(queue, new Protocol.Say((uint)i, "", new string('x', 1000)));
        queue.DropForClose(3500);
        var left = new List<Frame>();
        while (queue.Next(64 * 1024) is { } w) left.AddRange(Decode(w));
        Assert.Equal(3, left.Count);
        Assert.All(left, f => Assert.IsType<Protocol.Say>(f));
    }
}

public class ReadGateTests
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void One_read_at_a_time_and_none_while_the_owner_is_read_ahead_batches_behind()
    {
        var gate = new ReadGate(readAhead: 2, maxFramesPerSecond: 1000, S(0));
        Assert.Equal(ReadGate.Decision.Read, gate.Next(S(0), transportWantsInput: true));
        Assert.Equal(ReadGate.Decision.Wait, gate.Next(S(0), true)); // pending
        gate.Received();
        gate.Delivered();
        gate.Delivered();
        Assert.Equal(ReadGate.Decision.Wait, gate.Next(S(0), true)); // owner two batches behind
        gate.Handled();
        Assert.Equal(ReadGate.Decision.Read, gate.Next(S(0), true));
        gate.Received();
        Assert.Equal(ReadGate.Decision.Wait, gate.Next(S(0), transportWantsInput: false)); // TLS has much to decrypt
        gate.Closed = true;
        Assert.Equal(ReadGate.Decision.Wait, gate.Next(S(0), true));
    }

    [Fact]
    public void A_peer_over_its_frame_rate_is_read_again_only_when_the_rate_allows_with_one_timer()
    {
        var gate = new ReadGate(readAhead: 100, maxFramesPerSecond: 100, S(0));
        Assert.Equal(ReadGate.Decision.Read, gate.Next(S(0), true));
        gate.Received();
        gate.Decoded(S(0), 150); // 50 frames of debt: half a second
        Assert.Equal(ReadGate.Decision.Throttle, gate.Next(S(0), true));
        Assert.InRange(gate.RetryAfter.TotalSeconds, 0.49, 0.53);
        Assert.Equal(ReadGate.Decision.Wait, gate.Next(S(0.1), true)); // the timer runs already
        gate.ThrottleOver();
        Assert.Equal(ReadGate.Decision.Read, gate.Next(S(0.52), true));
    }
}

public class LivenessTests
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void A_quiet_connection_pings_once_the_handshake_allows_and_a_silent_peer_is_idle_only_while_we_wait_to_read()
    {
        var live = new Liveness(idleTimeout: S(30), writeTimeout: S(30), S(0));
        Assert.Equal(Liveness.Verdict.Fine, live.Tick(S(5), waitingToRead: true, writesInFlight: 0, mayPing: false));
        Assert.Equal(Liveness.Verdict.Ping, live.Tick(S(10), true, 0, mayPing: true));
        live.Wrote(S(11), firstInFlight: true);
        live.Progressed(S(11));
        Assert.Equal(Liveness.Verdict.Fine, live.Tick(S(15), true, 0, true)); // it sent something since the last tick
        // Silent for 31 s: gone, but only if we were waiting to read (else its bytes wait in the kernel).
        Assert.Equal(Liveness.Verdict.Ping, live.Tick(S(31), waitingToRead: false, 0, true));
        Assert.Equal(Liveness.Verdict.Idle, live.Tick(S(31), waitingToRead: true, 0, true));
        Assert.Equal(S(31), live.Silent(S(31)));
    }

    [Fact]
    public void A_peer_that_takes_nothing_of_what_we_send_for_the_write_timeout_is_stuck()
    {
        var live = new Liveness(idleTimeout: S(300), writeTimeout: S(30), S(0));
        live.Wrote(S(1), firstInFlight: true);
        Assert.Equal(Liveness.Verdict.Fine, live.Tick(S(30), false, writesInFlight: 1, false));
        live.Wrote(S(20), firstInFlight: false); // more queued behind: the timeout still counts from the first
        Assert.Equal(Liveness.Verdict.Stuck, live.Tick(S(31.5), false, writesInFlight: 2, false));
        live.Progressed(S(32));
        Assert.Equal(Liveness.Verdict.Fine, live.Tick(S(35), false, writesInFlight: 1, false));
    }
}

public class SniffingTransportTests
{
    private sealed class Owner : ITransportOwner
    {
        public List<string> Heard { get; } = [];
        public void TransportReady(TlsSession? session) => Heard.Add("ready");
        public void TransportFailed(string reason, ServerTrust.Check? trust) => Heard.Add($"failed {reason}");
        public void Plaintext(ReadOnlySpan<byte> bytes) => Heard.Add($"bytes {Convert.ToHexString(bytes)}");
        public void EncryptionMismatch(bool peerSpeaksTls) => Heard.Add($"mismatch tls={peerSpeaksTls}");
        public void InputEnded(string? error) => Heard.Add("ended");
        public void InputWanted() => Heard.Add("wanted");
    }

    /// <summary>Stands in for a transport: records what reaches it.</summary>
    private sealed class Recorder(string name, List<string> log) : IByteTransport
    {
        public void Start() => log.Add($"{name} start");
        public void RequestRead() => log.Add($"{name} read");
        public void Received(ByteString data) => log.Add($"{name} got {Convert.ToHexString(data.ToArray())}");
        public bool WantsInput => true;
        public void Write(OutboundWrite write, Akka.IO.Tcp.Event ack) => log.Add($"{name} write {write.Length}");
        public void HalfClose() => log.Add($"{name} half-close");
        public void Abort() => log.Add($"{name} abort");
        public bool DrainAfterClose() => false;
        public void Handle(ITransportMessage message) { }
        public void Dispose() => log.Add($"{name} disposed");
    }

    [Theory]
    [InlineData(true, "16030100", false)]   // a TLS end, a TLS peer
    [InlineData(true, "15030300", false)]   // a TLS alert is TLS too
    [InlineData(false, "00000005", false)]  // plain both
    public void A_peer_that_speaks_what_this_end_expects_goes_through_untouched(bool expectTls, string first, bool _)
    {
        var owner = new Owner();
        var log = new List<string>();
        var sniffing = new SniffingTransport(new Recorder("expected", log), () => new Recorder("plain", log), expectTls, owner);
        sniffing.Received(ByteString.FromBytes(Convert.FromHexString(first)));
        sniffing.Received(ByteString.FromBytes([0xAB]));
        Assert.Empty(owner.Heard);
        Assert.Equal([$"expected got {first}", "expected got AB"], log);
    }

    [Fact]
    public void A_tls_end_whose_peer_speaks_in_the_clear_switches_to_plain_and_says_so_before_the_bytes()
    {
        var owner = new Owner();
        var log = new List<string>();
        var sniffing = new SniffingTransport(new Recorder("tls", log), () => new Recorder("plain", log), expectTls: true, owner);
        sniffing.Received(ByteString.FromBytes([0, 0, 0, 3]));
        sniffing.Write(new OutboundWrite([new ArraySegment<byte>(new byte[7])], 7), Akka.IO.Tcp.NoAck.Instance);
        Assert.Equal(["mismatch tls=False"], owner.Heard);
        Assert.Equal(["tls disposed", "plain got 00000003", "plain write 7"], log);
    }

    [Fact]
    public void A_plain_end_whose_peer_speaks_tls_says_so_and_never_reads_the_tls_bytes_as_frames()
    {
        var owner = new Owner();
        var log = new List<string>();
        var sniffing = new SniffingTransport(new Recorder("plain", log), () => new Recorder("other", log), expectTls: false, owner);
        sniffing.Received(ByteString.FromBytes([0x16, 3, 1, 0]));
        Assert.Equal(["mismatch tls=True"], owner.Heard);
        Assert.Empty(log);
        sniffing.HalfClose();
        Assert.Equal(["plain half-close"], log);
    }
}

public class InboundFramesTests
{
    private static byte[] Bytes(params Frame[] frames) => [.. frames.SelectMany(FrameEncoder.Encode)];

    [Fact]
    public void Pings_go_to_the_owner_only_before_the_handshake_and_nothing_counts_after_the_peers_goodbye()
    {
        var inbound = new InboundFrames(1 << 20);
        var deliver = new List<Frame>();
        inbound.Read(Bytes(Ping.Instance), handshakeDone: false, deliver);
        Assert.IsType<Ping>(Assert.Single(deliver));
        deliver.Clear();
        var (decoded, violation) = inbound.Read(Bytes(Ping.Instance, new Protocol.Say(1, "", "a"), new Goodbye(WireCode.Normal, "bye"), new Protocol.Say(2, "", "late")), true, deliver);
        Assert.Equal((4, (ProtocolException?)null), (decoded, violation));
        Assert.Equal("a", ((Protocol.Say)Assert.Single(deliver)).Text);
        Assert.Equal("bye", inbound.PeerGoodbye!.Reason);
    }

    [Fact]
    public void Frames_before_a_violation_are_delivered_and_the_violation_is_named()
    {
        var inbound = new InboundFrames(1 << 20);
        var deliver = new List<Frame>();
        var (_, violation) = inbound.Read([.. Bytes(new Protocol.Say(1, "", "valid")), 0, 0, 0, 1, 0x7e], true, deliver);
        Assert.Single(deliver);
        Assert.Contains("unknown frame type 0x7e", violation!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_clear_refusal_is_read_whole_and_anything_else_is_not_ours()
    {
        var refusal = Bytes(new Refused(WireCode.ServerFull, "busy"));
        var inbound = new InboundFrames(1 << 20);
        Assert.False(inbound.ReadClearRefusal(refusal.AsSpan(0, 3)).Complete);
        Assert.Equal("busy", inbound.ReadClearRefusal(refusal.AsSpan(3)).Refusal!.Reason);
        Assert.Equal((true, (Refused?)null), new InboundFrames(1 << 20).ReadClearRefusal(Bytes(new Protocol.Say(1, "", "?"))));
    }
}

/// <summary>How a write is cut into what SslStream encrypts: small segments joined, a chunk's data left where it is.</summary>
public class TlsWritePiecesTests
{
    private static ArraySegment<byte> Bytes(int length, byte from) =>
        new([.. Enumerable.Range(0, length + 6).Select(i => (byte)(from + i))], 3, length);

    [Fact]
    public void Runs_of_small_segments_are_joined_large_ones_kept_in_place_and_the_order_is_the_writes()
    {
        var large1 = Bytes(TlsTransport.InPlaceBytes, 50);
        var large2 = Bytes(64 * 1024, 90);
        ArraySegment<byte>[] segments = [Bytes(13, 1), Bytes(200, 20), large1, Bytes(0, 0), Bytes(13, 7), large2, Bytes(5, 200)];
        var pieces = TlsTransport.Pieces(segments, out var joined);

        // small run, large, small, large, small: five pieces, empty segments dropped.
        Assert.Equal(5, pieces.Length);
        Assert.NotNull(joined);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(pieces[1], out var kept1));
        Assert.Same(large1.Array, kept1.Array);
        Assert.Equal(large1.Offset, kept1.Offset);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(pieces[3], out var kept2));
        Assert.Same(large2.Array, kept2.Array);
        foreach (var i in new[] { 0, 2, 4 })
        {
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(pieces[i], out var small));
            Assert.Same(joined, small.Array);
        }
        // The bytes, piece after piece, are the segments' bytes in order.
        Assert.Equal(segments.SelectMany(s => s.ToArray()), pieces.SelectMany(p => p.ToArray()));
    }

    [Fact]
    public void Only_small_segments_make_one_joined_piece_and_only_large_ones_rent_nothing()
    {
        var small = TlsTransport.Pieces([Bytes(13, 1), Bytes(100, 2)], out var joined);
        Assert.Single(small);
        Assert.NotNull(joined);
        Assert.Equal(113, small[0].Length);

        var large = Bytes(TlsTransport.InPlaceBytes + 1, 3);
        var pieces = TlsTransport.Pieces([large], out var none);
        Assert.Null(none);
        Assert.Equal(large.ToArray(), Assert.Single(pieces).ToArray());
    }
}
