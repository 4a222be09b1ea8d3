using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using static AkkaTcpTransfer.Tcp.ConnectionMessages;

namespace AkkaTcpTransfer.Tcp;

/// <summary>One TCP connection, and the only code besides <see cref="ListenerActor"/> that touches Akka.IO. It turns
/// Akka.IO's byte stream into frames for its parent (decoding across any <c>Tcp.Received</c> boundaries) and the
/// parent's frames into writes, with ack-based flow control and two bounded queues: control frames (chat, acks,
/// offers) always go before file chunks, so chat waits behind at most the writes already handed to Akka.IO.
/// It keeps the connection alive with pings, closes it when nothing arrives for the idle timeout, and closes it on
/// any protocol violation, telling the peer why in a Goodbye.</summary>
internal sealed class ConnectionActor : ReceiveActor, IWithTimers
{
    private sealed class WriteAck : Akka.IO.Tcp.Event
    {
        public static readonly WriteAck Instance = new();
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed class CloseTimedOut
    {
        public static readonly CloseTimedOut Instance = new();
    }

    /// <summary>A queued frame: its head bytes and, for a chunk, the data it carries without a copy (and the chunk
    /// itself when its buffer is pooled and ours to release once written: a relayed chunk).</summary>
    private readonly record struct Outbound(byte[] Head, ArraySegment<byte> Body, Chunk? Release = null)
    {
        public int Length => Head.Length + Body.Count;
    }

    /// <summary>Per write handed to Akka.IO, in order (acks come back in order): the pooled chunk to release on its ack.</summary>
    private readonly Queue<Chunk?> _inFlightReleases = new();

    /// <summary>Most control bytes coalesced into one write: one Akka.IO maximum-frame-size socket send.</summary>
    private const int BatchBytes = 64 * 1024;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ConnectionSettings _settings;
    private readonly FrameDecoder _decoder;
    private readonly List<Frame> _decoded = [];
    private readonly Queue<Outbound> _control = new();
    private readonly Queue<Outbound> _data = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly EndPoint? _connectTo;
    private IActorRef? _tcp;
    private EndPoint? _remote;
    private long _queuedBytes;
    private int _inFlight;
    private int _peerMaxFrame;
    private TimeSpan _lastReceived;
    private bool _sentSinceTick;
    private bool _tcpClosed;
    private bool _ownerNotified;
    private string? _closeReason;
    private WireCode? _peerCode;
    private string? _peerReason;
    private readonly Dictionary<uint, Grant> _grants = [];

    /// <summary>What we allowed the peer for one incoming transfer: its largest chunk, its window, and how far we
    /// have acknowledged.</summary>
    private sealed class Grant(int maxChunk, int window, long acked)
    {
        public int MaxChunk { get; } = maxChunk;
        public int Window { get; } = window;
        public long Acked { get; set; } = acked;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>A connection Akka.IO accepted for our listener: register with it at once.</summary>
    public static Props Accepted(IActorRef tcpConnection, EndPoint remote, NodeSettings settings) =>
        Props.Create(() => new ConnectionActor(tcpConnection, remote, null, settings));

    /// <summary>Connect to <paramref name="remote"/>, then behave as for an accepted connection.</summary>
    public static Props Outgoing(EndPoint remote, NodeSettings settings) =>
        Props.Create(() => new ConnectionActor(null, null, remote, settings));

    public ConnectionActor(IActorRef? tcpConnection, EndPoint? remote, EndPoint? connectTo, NodeSettings settings)
    {
        _settings = settings.Connection;
        _decoder = new FrameDecoder(settings.MaxFrameSize, poolChunks: true);
        _peerMaxFrame = settings.MaxFrameSize;
        _tcp = tcpConnection;
        _remote = remote;
        _connectTo = connectTo;
        if (connectTo is not null)
        {
            Context.System.Tcp().Tell(new Akka.IO.Tcp.Connect(connectTo,
                options: [new UnsentLowWatermark(settings.Connection.UnsentLowWatermark)], timeout: settings.Client.ConnectTimeout));
            Become(Connecting);
        }
        else
        {
            Become(Open);
        }
    }

    protected override void PreStart()
    {
        if (_tcp is not null) Register(_tcp, _remote!);
    }

    private void Register(IActorRef tcp, EndPoint remote)
    {
        _tcp = tcp;
        _remote = remote;
        Context.Watch(tcp);
        // This actor is the handler. For an outgoing connection it is also the commander, which Akka.IO 1.5.74 does
        // not death-pact (AKKA-IO.md 3.7): PostStop aborts the connection explicitly to cover that.
        tcp.Tell(new Akka.IO.Tcp.Register(Self, keepOpenOnPeerClosed: false, useResumeWriting: false));
        _lastReceived = _clock.Elapsed;
        Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, _settings.KeepaliveInterval);
    }

    private void Connecting()
    {
        Receive<Akka.IO.Tcp.Connected>(c =>
        {
            Register(Sender, c.RemoteAddress);
            Context.Parent.Tell(new Established(c.RemoteAddress, c.LocalAddress));
            Become(Open);
        });
        Receive<Akka.IO.Tcp.CommandFailed>(f =>
        {
            var cause = f.Cause.HasValue ? f.Cause.Value.Message : "no reason given";
            // Akka.IO 1.5.74 drops the socket error after its finish-connect retries and says only this.
            if (cause.Contains("finishConnect never returned true", StringComparison.Ordinal))
                cause = "connection refused or host unreachable (nothing accepted the connection)";
            NotifyOwner(new ConnectFailed($"cannot connect to {_connectTo}: {cause}"));
            Context.Stop(Self);
        });
        Receive<Send>(_ => _log.Warning("dropping a frame sent before the connection was established"));
        Receive<SendEncoded>(_ => _log.Warning("dropping a frame sent before the connection was established"));
        Receive<Close>(_ =>
        {
            NotifyOwner(new ConnectFailed("closed before the connection was established"));
            Context.Stop(Self);
        });
    }

    private void Open()
    {
        Receive<Akka.IO.Tcp.Received>(OnReceived);
        Receive<WriteAck>(_ => OnWriteAck());
        Receive<Send>(s => Enqueue(s.Frame));
        Receive<SendEncoded>(s => Enqueue(new Outbound(s.Frame, default), control: true));
        Receive<Close>(c => BeginClose(c.Code, c.Reason));
        Receive<PeerLimits>(l => _peerMaxFrame = l.MaxFrameLength);
        Receive<Tick>(_ => OnTick());
        Receive<Akka.IO.Tcp.ConnectionClosed>(OnTcpClosed);
        Receive<Akka.IO.Tcp.CommandFailed>(f =>
        {
            // Any failed write would leave a hole in the byte stream: the connection cannot go on (AKKA-IO.md 8.4).
            var cause = f.Cause.HasValue ? f.Cause.Value.Message : "unknown";
            Abort($"write failed: {cause}");
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_tcp), _ => LostTcpActor());
    }

    private void Closing()
    {
        Receive<Akka.IO.Tcp.Received>(_ => { });
        Receive<WriteAck>(_ => _inFlight--);
        Receive<Send>(_ => { });
        Receive<SendEncoded>(_ => { });
        Receive<Close>(_ => { });
        Receive<PeerLimits>(_ => { });
        Receive<Tick>(_ => { });
        Receive<Akka.IO.Tcp.ConnectionClosed>(OnTcpClosed);
        Receive<Akka.IO.Tcp.CommandFailed>(_ => { });
        Receive<CloseTimedOut>(_ => Abort($"{_closeReason} (the peer did not take the last bytes in time)"));
        Receive<Terminated>(t => t.ActorRef.Equals(_tcp), _ => LostTcpActor());
    }

    // ---------------------------------------------------------------- inbound

    private void OnReceived(Akka.IO.Tcp.Received received)
    {
        _lastReceived = _clock.Elapsed;
        _decoded.Clear();
        try
        {
            // Received data is one freshly copied array, so this span is not a copy.
            _decoder.Decode(received.Data.ToReadOnlySpan(), _decoded);
        }
        catch (ProtocolException e)
        {
            _log.Info("closing connection from {0}: {1}", _remote, e.Message);
            // Frames decoded before the bad one are still delivered: they were valid.
            Deliver();
            BeginClose(WireCode.ProtocolViolation, $"protocol violation: {e.Message}");
            return;
        }
        Deliver();
    }

    private void Deliver()
    {
        foreach (var frame in _decoded)
        {
            switch (frame)
            {
                case Ping:
                    break;
                case Goodbye g:
                    _peerCode = g.Code;
                    _peerReason = g.Reason;
                    break;
                case Chunk chunk when Exceeds(chunk) is { } violation:
                    _decoded.Clear();
                    BeginClose(WireCode.ProtocolViolation, $"protocol violation: {violation}");
                    return;
                default:
                    if (frame is Cancel or Fail) _grants.Remove(((TransferFrame)frame).Id);
                    Context.Parent.Tell(new FrameReceived(frame));
                    break;
            }
        }
        _decoded.Clear();
    }

    /// <summary>Flow control enforced where the bytes enter: a peer may send at most the window we granted beyond
    /// the last Ack we sent, in chunks no larger than granted. Checked before the chunk is queued for any actor, so a
    /// sender that ignores the window is dropped before its data can pile up (whoever receives: this node, or a
    /// client the server relays to).</summary>
    private string? Exceeds(Chunk chunk)
    {
        if (!_grants.TryGetValue(chunk.Id, out var grant)) return null; // not ours to judge: the owner drops unknown ids
        if (chunk.Data.Length > grant.MaxChunk)
            return $"a {chunk.Data.Length}-byte chunk of transfer {chunk.Id:x8} is larger than the {grant.MaxChunk} bytes granted";
        if (chunk.Offset + chunk.Data.Length - grant.Acked > grant.Window)
            return $"transfer {chunk.Id:x8} ignored the flow-control window of {grant.Window} bytes";
        return null;
    }

    /// <summary>Notes the grants and acknowledgements we send for incoming transfers.</summary>
    private void Observe(Frame frame)
    {
        switch (frame)
        {
            case Accept a:
                _grants[a.Id] = new Grant(a.MaxChunk, a.Window, a.Offset);
                break;
            case Ack a when _grants.TryGetValue(a.Id, out var grant):
                grant.Acked = Math.Max(grant.Acked, a.Written);
                break;
            case Reject or Verified or Cancel or Fail:
                _grants.Remove(((TransferFrame)frame).Id);
                break;
        }
    }

    // ---------------------------------------------------------------- outbound

    private void Enqueue(Frame frame)
    {
        Outbound item;
        bool control;
        if (frame is Chunk chunk)
        {
            item = new Outbound(FrameEncoder.EncodeChunkHeader(chunk.Id, chunk.Offset, chunk.Data.Length), AsSegment(chunk.Data),
                chunk.Pooled ? chunk : null);
            control = false;
        }
        else
        {
            Observe(frame);
            item = new Outbound(FrameEncoder.Encode(frame), default);
            control = true;
        }
        Enqueue(item, control);
    }

    private void Enqueue(Outbound item, bool control)
    {
        var frameLength = item.Length - ProtocolLimits.LengthPrefixSize;
        if (frameLength > _peerMaxFrame)
        {
            _log.Warning("not sending a {0}-byte frame to {1}: its limit is {2} bytes", frameLength, _remote, _peerMaxFrame);
            return;
        }
        if (_queuedBytes + item.Length > _settings.MaxSendQueue)
        {
            BeginClose(WireCode.SlowConsumer, $"send queue for this peer exceeded {_settings.MaxSendQueue} bytes: it reads too slowly");
            return;
        }
        (control ? _control : _data).Enqueue(item);
        _queuedBytes += item.Length;
        TrySend();
    }

    private void OnWriteAck()
    {
        _inFlight--;
        // The bytes are in the kernel: a relayed chunk's pooled buffer can go back.
        if (_inFlightReleases.TryDequeue(out var written)) written?.Release();
        TrySend();
    }

    /// <summary>Hands writes to Akka.IO while fewer than writes-in-flight are outstanding. Each write is every queued
    /// control frame (copied together, up to one socket send) plus at most one chunk, whose data is not copied.</summary>
    private void TrySend()
    {
        while (_inFlight < _settings.WritesInFlight && (_control.Count > 0 || _data.Count > 0))
        {
            var (write, release) = NextWrite(BatchBytes);
            _tcp!.Tell(Akka.IO.Tcp.Write.Create(write, WriteAck.Instance));
            _inFlightReleases.Enqueue(release);
            _inFlight++;
            _sentSinceTick = true;
        }
    }

    private (ByteString Write, Chunk? Release) NextWrite(int budget)
    {
        Chunk? release = null;
        var segments = new List<ArraySegment<byte>>(3);
        var taken = 0;
        if (_control.Count > 0)
        {
            var count = 0;
            var bytes = 0;
            foreach (var c in _control)
            {
                if (count > 0 && bytes + c.Length > budget) break;
                count++;
                bytes += c.Length;
            }
            if (count == 1)
            {
                segments.Add(_control.Dequeue().Head);
            }
            else
            {
                var batch = new byte[bytes];
                var at = 0;
                for (var i = 0; i < count; i++)
                {
                    var head = _control.Dequeue().Head;
                    head.CopyTo(batch, at);
                    at += head.Length;
                }
                segments.Add(batch);
            }
            taken = bytes;
        }
        if (_data.Count > 0 && taken < budget)
        {
            var d = _data.Dequeue();
            segments.Add(d.Head);
            segments.Add(d.Body);
            taken += d.Length;
            release = d.Release;
        }
        _queuedBytes -= taken;
        return (ByteString.FromBytes(segments), release);
    }

    private static ArraySegment<byte> AsSegment(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetArray(memory, out var segment) ? segment : new ArraySegment<byte>(memory.ToArray());

    // ---------------------------------------------------------------- liveness

    private void OnTick()
    {
        var silent = _clock.Elapsed - _lastReceived;
        if (silent > _settings.IdleTimeout)
        {
            BeginClose(WireCode.IdleTimeout, $"nothing received for {silent.TotalSeconds:0.#} s: the peer is gone");
            return;
        }
        if (!_sentSinceTick) Enqueue(Ping.Instance);
        _sentSinceTick = false;
    }

    // ---------------------------------------------------------------- closing

    /// <summary>Graceful close: drop file data, send the remaining control frames and a Goodbye, then half-close
    /// (ConfirmedClose: flush, FIN, keep reading until the peer's FIN). Closing the socket outright would answer
    /// any bytes still arriving from the peer with an RST, which can overtake the Goodbye and lose the reason.
    /// A peer that does not finish within close-timeout gets the socket aborted.</summary>
    private void BeginClose(WireCode code, string reason)
    {
        if (_closeReason is not null) return;
        _closeReason = reason;
        _queuedBytes = 0;
        _data.Clear();
        _control.Enqueue(new Outbound(FrameEncoder.Encode(new Goodbye(code, reason)), default));
        while (_control.Count > 0) _tcp!.Tell(Akka.IO.Tcp.Write.Create(NextWrite(BatchBytes).Write, WriteAck.Instance));
        _tcp!.Tell(Akka.IO.Tcp.ConfirmedClose.Instance);
        Timers.Cancel(nameof(Tick));
        Timers.StartSingleTimer(nameof(CloseTimedOut), CloseTimedOut.Instance, _settings.CloseTimeout);
        Become(Closing);
    }

    private void Abort(string reason)
    {
        _closeReason ??= reason;
        _tcp?.Tell(Akka.IO.Tcp.Abort.Instance);
        _tcpClosed = true;
        NotifyOwner(new Closed(reason, _peerCode));
        Context.Stop(Self);
    }

    private void OnTcpClosed(Akka.IO.Tcp.ConnectionClosed closed)
    {
        _tcpClosed = true;
        NotifyOwner(new Closed(DescribeClose(closed), _peerCode));
        Context.Stop(Self);
    }

    private void LostTcpActor()
    {
        _tcpClosed = true;
        NotifyOwner(new Closed(_closeReason ?? "the connection stopped", _peerCode));
        Context.Stop(Self);
    }

    private string DescribeClose(Akka.IO.Tcp.ConnectionClosed closed)
    {
        if (_closeReason is not null) return _closeReason;
        if (_peerReason is not null) return $"peer closed the connection: {_peerReason}";
        var midFrame = _decoder.HasPartialFrame ? " in the middle of a frame" : "";
        if (closed.IsErrorClosed) return $"connection lost{midFrame}: {closed.Cause}";
        if (closed.IsPeerClosed) return $"peer closed the connection{midFrame}";
        return $"connection closed{midFrame}";
    }

    private void NotifyOwner(object message)
    {
        if (_ownerNotified) return;
        _ownerNotified = true;
        Context.Parent.Tell(message);
    }

    protected override void PostStop()
    {
        if (_tcp is not null && !_tcpClosed) _tcp.Tell(Akka.IO.Tcp.Abort.Instance);
        NotifyOwner(new Closed(_closeReason ?? "connection stopped", _peerCode));
    }
}
