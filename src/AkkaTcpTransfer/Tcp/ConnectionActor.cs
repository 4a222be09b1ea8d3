using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using AkkaTcpTransfer.Limits;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Transfer;
using static AkkaTcpTransfer.Tcp.ConnectionMessages;

namespace AkkaTcpTransfer.Tcp;

/// <summary>One TCP connection, and the only code besides <see cref="ListenerActor"/> that touches Akka.IO. It turns
/// Akka.IO's byte stream into frames for its parent (decoding across any <c>Tcp.Received</c> boundaries) and the
/// parent's frames into writes, with ack-based flow control and two bounded queues. The bytes pass through a
/// <see cref="IByteTransport"/> inside this actor: TLS 1.3 (<see cref="TlsTransport"/>, the default) or plain
/// (<see cref="PlainTransport"/>, <c>--insecure</c>); everything below about frames holds for both.
/// <list type="bullet">
/// <item>Reading is pulled (Akka.IO pull mode): the next read is asked for only while the owner has handled all but
/// <c>connection.read-ahead</c> of the batches delivered to it, and while the peer's frame rate is within
/// <c>connection.max-frames-per-second</c>. A fast or hostile peer is slowed down by TCP, never buffered here.</item>
/// <item>Writes: control frames (chat, presence, acks, offers) go before file data; a transfer's own Start, Chunk and
/// Done frames share the data queue, so they keep their order on the wire. Everything held for the peer counts against
/// <c>connection.max-send-queue</c> and the node's <see cref="SendBudget"/>; a peer that takes nothing for
/// <c>connection.write-timeout</c> is dropped.</item>
/// <item>It keeps the connection alive with pings, closes it when nothing arrives for the idle timeout, and closes it
/// on any protocol violation, telling the peer why in a Goodbye.</item>
/// </list></summary>
internal sealed class ConnectionActor : ReceiveActor, IWithTimers, ITransportOwner
{
    private sealed class WriteAck : Akka.IO.Tcp.Event, Akka.Event.IDeadLetterSuppression
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

    /// <summary>The node was over its send budget with no connection yet shown to be slow: look again.</summary>
    private sealed class ShedRetry
    {
        public static readonly ShedRetry Instance = new();
    }

    private sealed class ThrottleOver
    {
        public static readonly ThrottleOver Instance = new();
    }

    /// <summary>A queued frame: its head bytes and, for a chunk, the data it carries without a copy (and the chunk
    /// itself when its buffer is pooled and ours to release once written: a relayed chunk).</summary>
    private readonly record struct Outbound(byte[] Head, ArraySegment<byte> Body, Chunk? Release = null)
    {
        public int Length => Head.Length + Body.Count;
    }

    /// <summary>Per write handed to Akka.IO, in order (acks come back in order): its size, and the pooled chunk to
    /// release on its ack.</summary>
    private readonly Queue<(int Bytes, Chunk? Release)> _inFlightWrites = new();

    /// <summary>Most control bytes coalesced into one write: one Akka.IO maximum-frame-size socket send.</summary>
    private const int BatchBytes = 64 * 1024;

    /// <summary>Most queued control bytes still written when closing (well under Akka.IO's write-queue cap, 4 MiB).</summary>
    private const long MaxFlushOnClose = 256 * 1024;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ConnectionSettings _settings;
    private readonly FrameDecoder _decoder;
    private readonly List<Frame> _decoded = [];
    private readonly Queue<Outbound> _control = new();
    private readonly Queue<Outbound> _data = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly EndPoint? _connectTo;
    private readonly ConnectionSecurity? _security;
    private readonly TimeSpan _handshakeTimeout;
    private IByteTransport? _transport;
    private EndPoint? _local;
    private bool _ready;             // the transport is set up (TLS: handshake done)
    private bool _plaintextAnswer;   // a TLS client got clear bytes back: read them as the server's refusal
    private Akka.IO.Tcp.ConnectionClosed? _closedWhileDraining;
    private readonly TokenBucket _frameRate;
    private readonly SendBudget _budget;
    private SendBudget.Gauge? _gauge;
    private IActorRef? _tcp;
    private EndPoint? _remote;
    private long _held;              // bytes queued or handed to Akka.IO and not yet acknowledged
    private int _inFlight;
    private int _peerMaxFrame;
    private bool _readPending;       // a ResumeReading is outstanding
    private int _batchesUnhandled;   // batches delivered to the owner that it has not yet confirmed
    private bool _throttled;
    private TimeSpan _lastReceived;
    private TimeSpan _lastWriteProgress;
    private bool _sentSinceTick;
    private readonly bool _accepted;
    private bool _sawFirstBytes;
    private bool _handshakeDone;
    private bool _tcpClosed;
    private bool _ownerNotified;
    private string? _closeReason;
    private WireCode? _peerCode;
    private string? _peerReason;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>A connection Akka.IO accepted for our listener (bound in pull mode): register with it at once.
    /// <paramref name="security"/> null: plaintext.</summary>
    public static Props Accepted(IActorRef tcpConnection, EndPoint remote, NodeSettings settings, ConnectionSecurity? security) =>
        Props.Create(() => new ConnectionActor(tcpConnection, remote, null, settings, security, accepted: true, local: null));

    /// <summary>Connect to <paramref name="remote"/>, then behave as for an accepted connection. With TLS the owner hears
    /// <see cref="Established"/> only once the handshake is done and the server trusted.</summary>
    public static Props Outgoing(EndPoint remote, NodeSettings settings, ConnectionSecurity? security) =>
        Props.Create(() => new ConnectionActor(null, null, remote, settings, security, accepted: false, local: null));

    /// <summary>The client end of a connection that is already up (<paramref name="tcpConnection"/> plays Akka.IO's
    /// connection): for tests that join two connection actors in memory.</summary>
    internal static Props Connected(IActorRef tcpConnection, EndPoint remote, EndPoint local, NodeSettings settings, ConnectionSecurity? security) =>
        Props.Create(() => new ConnectionActor(tcpConnection, remote, null, settings, security, accepted: false, local));

    public ConnectionActor(IActorRef? tcpConnection, EndPoint? remote, EndPoint? connectTo, NodeSettings settings, ConnectionSecurity? security, bool accepted,
        EndPoint? local)
    {
        _local = local;
        _settings = settings.Connection;
        _security = security;
        _handshakeTimeout = accepted ? settings.Server.HandshakeTimeout : settings.Client.HandshakeTimeout;
        _decoder = new FrameDecoder(settings.MaxFrameSize, poolChunks: true);
        _peerMaxFrame = settings.MaxFrameSize;
        _frameRate = new TokenBucket(_settings.MaxFramesPerSecond, _settings.MaxFramesPerSecond, _clock.Elapsed);
        _budget = SendBudget.For(Context.System, _settings.NodeSendBudget);
        _tcp = tcpConnection;
        _remote = remote;
        _connectTo = connectTo;
        _accepted = accepted;
        if (connectTo is not null)
        {
            Context.System.Tcp().Tell(new Akka.IO.Tcp.Connect(connectTo,
                options: [new UnsentLowWatermark(settings.Connection.UnsentLowWatermark)], timeout: settings.Client.ConnectTimeout,
                pullMode: true));
            Become(Connecting);
        }
        else
        {
            Become(Open);
        }
    }

    protected override void PreStart()
    {
        _gauge = _budget.Register(Self);
        if (_tcp is not null) Register(_tcp, _remote!);
    }

    private void Register(IActorRef tcp, EndPoint remote)
    {
        _tcp = tcp;
        _remote = remote;
        Context.Watch(tcp);
        // This actor is the handler. For an outgoing connection it is also the commander, which Akka.IO 1.5.74 does
        // not death-pact: PostStop aborts the connection explicitly to cover that.
        tcp.Tell(new Akka.IO.Tcp.Register(Self, keepOpenOnPeerClosed: false, useResumeWriting: false));
        _lastReceived = _lastWriteProgress = _clock.Elapsed;
        Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, _settings.KeepaliveInterval);
        _transport = _security is null ? new PlainTransport(tcp, this) : new TlsTransport(Self, tcp, this, _security, _handshakeTimeout);
        _transport.Start();
        MaybeRead();
    }

    private void Connecting()
    {
        Receive<Akka.IO.Tcp.Connected>(c =>
        {
            _local = c.LocalAddress;
            Become(Open);
            Register(Sender, c.RemoteAddress);
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
        Receive<Send>(s => Sender.Tell(new SendFailed(s.Frame, "not connected yet")));
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
        Receive<ITransportMessage>(m => _transport!.Handle(m));
        Receive<ReadMore>(_ =>
        {
            _batchesUnhandled--;
            MaybeRead();
        });
        Receive<ThrottleOver>(_ =>
        {
            _throttled = false;
            MaybeRead();
        });
        Receive<WriteAck>(_ => OnWriteAck());
        Receive<Send>(s => Enqueue(s.Frame, Sender));
        Receive<SendEncoded>(s => Enqueue(new Outbound(s.Frame, default), data: false));
        Receive<Close>(c => BeginClose(c.Code, c.Reason));
        Receive<Shed>(_ => BeginClose(WireCode.SlowConsumer,
            $"the server is short of memory for unsent data and this connection held the most ({Units.Bytes(_held)}) or was not reading"));
        Receive<ShedRetry>(_ =>
        {
            if (_budget.Total > _budget.Limit) Shed();
        });
        Receive<PeerLimits>(l => _peerMaxFrame = l.MaxFrameLength);
        Receive<HandshakeDone>(_ => _handshakeDone = true);
        Receive<Tick>(_ => OnTick());
        Receive<Akka.IO.Tcp.ConnectionClosed>(OnTcpClosed);
        Receive<Akka.IO.Tcp.CommandFailed>(f =>
        {
            // Any failed write would leave a hole in the byte stream (Akka.IO goes on accepting later writes after one
            // failed): the connection cannot go on.
            var cause = f.Cause.HasValue ? f.Cause.Value.Message : "unknown";
            Abort($"write failed: {cause}");
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_tcp), _ => LostTcpActor());
    }

    private void Closing()
    {
        // Keep reading (and discarding) so that Akka.IO sees the peer's FIN and completes the ConfirmedClose.
        Receive<Akka.IO.Tcp.Received>(_ => _tcp!.Tell(Akka.IO.Tcp.ResumeReading.Instance));
        // The transport still finishes its writes (TLS: and its close_notify) before the FIN.
        Receive<ITransportMessage>(m => _transport!.Handle(m));
        Receive<WriteAck>(_ => _inFlight--);
        Receive<Send>(_ => { });
        Receive<SendEncoded>(_ => { });
        Receive<Close>(_ => { });
        Receive<Shed>(_ => { });
        Receive<ShedRetry>(_ => { });
        Receive<ReadMore>(_ => { });
        Receive<ThrottleOver>(_ => { });
        Receive<PeerLimits>(_ => { });
        Receive<HandshakeDone>(_ => { });
        Receive<Tick>(_ => { });
        Receive<Akka.IO.Tcp.ConnectionClosed>(OnTcpClosed);
        Receive<Akka.IO.Tcp.CommandFailed>(_ => { });
        Receive<CloseTimedOut>(_ => Abort($"{_closeReason} (the peer did not take the last bytes in time)"));
        Receive<Terminated>(t => t.ActorRef.Equals(_tcp), _ => LostTcpActor());
    }

    // ---------------------------------------------------------------- inbound

    /// <summary>Asks Akka.IO for the next read, unless one is pending, the owner is behind, or the peer is over its
    /// frame rate (then a timer asks again when the rate allows).</summary>
    private void MaybeRead()
    {
        if (_readPending || _closeReason is not null || _tcp is null || _tcpClosed || _batchesUnhandled >= _settings.ReadAhead) return;
        if (!_transport!.WantsInput) return; // TLS: much ciphertext still to decrypt; it says when it wants more
        var wait = _frameRate.WaitFor(_clock.Elapsed);
        if (wait > TimeSpan.Zero)
        {
            if (_throttled) return;
            _throttled = true;
            Timers.StartSingleTimer(nameof(ThrottleOver), ThrottleOver.Instance, wait);
            return;
        }
        _readPending = true;
        _tcp.Tell(Akka.IO.Tcp.ResumeReading.Instance);
    }

    private void OnReceived(Akka.IO.Tcp.Received received)
    {
        _readPending = false;
        _lastReceived = _clock.Elapsed;
        // Plain: decoded right here (Plaintext is called back at once). TLS: queued for decryption; the plaintext
        // comes back later as a message.
        _transport!.Received(received.Data);
        MaybeRead();
    }

    void ITransportOwner.Plaintext(ReadOnlySpan<byte> bytes)
    {
        if (_closeReason is not null) return;
        if (_plaintextAnswer)
        {
            ReadPlaintextAnswer(bytes);
            return;
        }
        if (!_sawFirstBytes && bytes.Length > 0)
        {
            _sawFirstBytes = true;
            if (_accepted && _security is null && bytes[0] == TlsTransport.HandshakeRecord)
            {
                BeginClose(WireCode.EncryptionMismatch,
                    "this server does not use TLS (it was started with --insecure): connect with --insecure, or ask for a server with TLS");
                return;
            }
        }
        _decoded.Clear();
        try
        {
            _decoder.Decode(bytes, _decoded);
        }
        catch (ProtocolException e)
        {
            _log.Info("closing connection from {0}: {1}", _remote, e.Message);
            // Frames decoded before the bad one are still delivered: they were valid.
            Deliver();
            BeginClose(WireCode.ProtocolViolation, $"protocol violation: {e.Message}");
            return;
        }
        _frameRate.Charge(_clock.Elapsed, _decoded.Count);
        Deliver();
        MaybeRead();
    }

    void ITransportOwner.InputWanted() => MaybeRead();

    void ITransportOwner.TransportReady(TlsSession? session)
    {
        _ready = true;
        if (session is not null) _log.Debug("TLS with {0}: {1} {2}, ALPN {3}", _remote, session.Protocol, session.CipherSuite, session.ApplicationProtocol);
        if (!_accepted) Context.Parent.Tell(new Established(_remote!, _local!, session));
    }

    void ITransportOwner.TransportFailed(string reason, Security.ServerTrust.Check? trust)
    {
        // Once closing, the close path (FIN or close-timeout) ends the connection: an Abort here would cut it short.
        if (_closeReason is not null) return;
        if (_accepted) _log.Info("TLS handshake with {0} failed: {1}", _remote, reason);
        if (!_accepted) NotifyOwner(new ConnectFailed(reason, Trust: trust?.Problem, Fingerprint: trust?.PresentedFingerprint));
        Abort(reason);
    }

    /// <summary>The peer's first bytes are not TLS. A server says so in the clear (a Refused frame: the one thing a
    /// plaintext client can read); a client reads the server's clear answer, which can only be a refusal.</summary>
    void ITransportOwner.PeerNotTls(ByteString firstBytes)
    {
        _transport!.Dispose();
        _transport = new PlainTransport(_tcp!, this);
        if (_accepted)
        {
            _log.Info("refusing {0}: it does not speak TLS", _remote);
            BeginClose(WireCode.EncryptionMismatch,
                "this server requires TLS: connect with a TLS client (akka-tcp-transfer without --insecure)");
            return;
        }
        _plaintextAnswer = true;
        _transport.Received(firstBytes);
    }

    /// <summary>A TLS client got clear bytes from the server: a server refusing before TLS (busy, or itself without
    /// TLS) sends one Refused frame. Anything else means the server does not speak TLS.</summary>
    private void ReadPlaintextAnswer(ReadOnlySpan<byte> bytes)
    {
        const string notTls = "the server answered without TLS: it is not an akka-tcp-transfer server with TLS " +
                              "(if it was started with --insecure, connect with --insecure too)";
        _decoded.Clear();
        try
        {
            _decoder.Decode(bytes, _decoded);
        }
        catch (ProtocolException)
        {
            FailConnect(notTls);
            return;
        }
        if (_decoded.Count == 0)
        {
            MaybeRead();
            return;
        }
        if (_decoded[0] is Refused refused) FailConnect($"refused by the server: {refused.Reason}", refused.Code);
        else FailConnect(notTls);
        _decoded.Clear();
    }

    private void FailConnect(string reason, WireCode? code = null)
    {
        NotifyOwner(new ConnectFailed(reason, code));
        Abort(reason);
    }

    void ITransportOwner.InputEnded(string? error)
    {
        if (_closedWhileDraining is { } closed)
        {
            Finish(new Closed(error ?? DescribeClose(closed), _peerCode));
            return;
        }
        if (_closeReason is not null) return;
        if (error is not null)
        {
            // Undecryptable bytes: the session cannot carry a Goodbye any more.
            _log.Info("closing connection from {0}: {1}", _remote, error);
            Abort(error);
            return;
        }
        // The peer closed its side of TLS (close_notify) without a Goodbye: close ours too.
        _closeReason = _decoder.HasPartialFrame ? "peer closed the connection in the middle of a frame" : "peer closed the connection";
        _data.Clear();
        _control.Clear();
        HalfClose();
    }

    private void Deliver()
    {
        var delivered = 0;
        foreach (var frame in _decoded)
        {
            switch (frame)
            {
                case Ping when _handshakeDone:
                    break;
                case Goodbye g:
                    _peerCode = g.Code;
                    _peerReason = g.Reason;
                    break;
                case var _ when _peerReason is not null:
                    // Nothing counts after the peer's Goodbye.
                    (frame as Chunk)?.Release();
                    break;
                default:
                    Context.Parent.Tell(new FrameReceived(frame));
                    delivered++;
                    break;
            }
        }
        _decoded.Clear();
        if (_peerReason is not null && _closeReason is null && !_tcpClosed) ClosePeerLeft();
        if (delivered == 0) return;
        // The owner answers this with ReadMore once it has handled every frame before it (its mailbox is in order).
        Context.Parent.Tell(Delivered.Instance);
        _batchesUnhandled++;
    }

    // ---------------------------------------------------------------- outbound

    /// <summary>A transfer's sender-side frames that must stay in order with its chunks.</summary>
    private static bool IsData(Frame frame) => frame is Chunk or Start or Done;

    private void Enqueue(Frame frame, IActorRef requester)
    {
        Outbound item;
        try
        {
            item = frame is Chunk chunk
                ? new Outbound(FrameEncoder.EncodeChunkHeader(chunk.Id, chunk.Offset, chunk.Data.Length), AsSegment(chunk.Data), chunk.Pooled ? chunk : null)
                : new Outbound(FrameEncoder.Encode(frame), default);
        }
        catch (ArgumentException e)
        {
            // Peer-chosen text is capped or validated before it reaches a frame; this is a bug, not a peer's doing.
            _log.Error(e, "cannot encode a {0} frame for {1}", frame.Type, _remote);
            requester.Tell(new SendFailed(frame, $"cannot encode the {frame.Type} frame: {e.Message}"));
            return;
        }
        var frameLength = item.Length - ProtocolLimits.LengthPrefixSize;
        if (frameLength > _peerMaxFrame)
        {
            _log.Warning("not sending a {0}-byte {1} frame to {2}: its limit is {3} bytes", frameLength, frame.Type, _remote, _peerMaxFrame);
            requester.Tell(new SendFailed(frame, $"the {frame.Type} frame ({frameLength} bytes) is larger than the peer accepts ({_peerMaxFrame} bytes)"));
            return;
        }
        Enqueue(item, IsData(frame));
    }

    private void Enqueue(Outbound item, bool data)
    {
        if (_held + item.Length > _settings.MaxSendQueue)
        {
            BeginClose(WireCode.SlowConsumer, $"more than {Units.Bytes(_settings.MaxSendQueue)} waited to be sent to this peer: it reads too slowly");
            return;
        }
        (data ? _data : _control).Enqueue(item);
        _held += item.Length;
        if (_gauge!.Add(item.Length)) Shed();
        TrySend();
    }

    /// <summary>The node is over its send budget: tell the connections chosen to give way (perhaps this one).</summary>
    private void Shed()
    {
        var victims = _budget.ChooseVictims();
        if (victims.Count == 0)
        {
            // Nobody may be shed yet (all are still draining, or a shed is under way): while the node stays over its
            // budget, look again, whether or not more is sent.
            if (!Timers.IsTimerActive(nameof(ShedRetry)))
                Timers.StartSingleTimer(nameof(ShedRetry), ShedRetry.Instance, SendBudget.ShedInterval);
            return;
        }
        _log.Warning("over the node's send budget ({0} held, limit {1}): closing {2} connection(s) with the most unsent data",
            Units.Bytes(_budget.Total), Units.Bytes(_budget.Limit), victims.Count);
        foreach (var victim in victims) victim.Connection.Tell(ConnectionMessages.Shed.Instance);
    }

    private void OnWriteAck()
    {
        _inFlight--;
        _lastWriteProgress = _clock.Elapsed;
        if (_inFlightWrites.TryDequeue(out var written))
        {
            _held -= written.Bytes;
            _gauge!.Acked(written.Bytes);
            _gauge.Add(-written.Bytes);
            // The bytes are in the kernel: a relayed chunk's pooled buffer can go back.
            written.Release?.Release();
        }
        else
        {
            _gauge!.Acked(0);
        }
        TrySend();
    }

    /// <summary>Hands writes to Akka.IO while fewer than writes-in-flight are outstanding. Each write is every queued
    /// control frame (copied together, up to one socket send) plus at most one data frame, whose bytes are not copied.</summary>
    private void TrySend()
    {
        while (_inFlight < _settings.WritesInFlight && (_control.Count > 0 || _data.Count > 0))
        {
            var (write, bytes, release) = NextWrite(BatchBytes);
            if (_inFlight == 0) _lastWriteProgress = _clock.Elapsed; // the write timeout counts from here
            _transport!.Write(write, WriteAck.Instance);
            _inFlightWrites.Enqueue((bytes, release));
            _inFlight++;
            _sentSinceTick = true;
        }
    }

    private (ByteString Write, int Bytes, Chunk? Release) NextWrite(int budget)
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
            if (d.Body.Count > 0) segments.Add(d.Body);
            taken += d.Length;
            release = d.Release;
        }
        return (ByteString.FromBytes(segments), taken, release);
    }

    private static ArraySegment<byte> AsSegment(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetArray(memory, out var segment) ? segment : new ArraySegment<byte>(memory.ToArray());

    // ---------------------------------------------------------------- liveness

    private void OnTick()
    {
        var now = _clock.Elapsed;
        var silent = now - _lastReceived;
        // Only a peer we are waiting to read from can be silent; while the owner is behind or the peer is throttled,
        // its bytes wait in the kernel.
        if (silent > _settings.IdleTimeout && _readPending)
        {
            BeginClose(WireCode.IdleTimeout, $"nothing received for {silent.TotalSeconds:0.#} s: the peer is gone");
            return;
        }
        if (_inFlight > 0 && now - _lastWriteProgress > _settings.WriteTimeout)
        {
            BeginClose(WireCode.SlowConsumer,
                $"the peer took nothing for {(now - _lastWriteProgress).TotalSeconds:0.#} s ({Units.Bytes(_held)} waiting for it)");
            return;
        }
        // No ping before the handshake is done: until then each side may send only its handshake frames.
        if (!_sentSinceTick && _handshakeDone) Enqueue(Ping.Instance, Self);
        _sentSinceTick = false;
    }

    // ---------------------------------------------------------------- closing

    /// <summary>Graceful close: drop file data, send the remaining control frames and a Goodbye (a Refused, from a server
    /// before the handshake is done), then half-close
    /// (ConfirmedClose: flush, FIN, keep reading until the peer's FIN). Closing the socket outright would answer
    /// any bytes still arriving from the peer with an RST, which can overtake the Goodbye and lose the reason.
    /// A peer that does not finish within close-timeout gets the socket aborted.</summary>
    private void BeginClose(WireCode code, string reason)
    {
        if (_closeReason is not null) return;
        _closeReason = reason;
        _data.Clear();
        // What is still queued goes out first, but no more than Akka.IO's own queue takes (past its byte cap a write
        // fails, and the farewell would be lost): a slow consumer's backlog is dropped, its Goodbye is not.
        var kept = 0L;
        var flush = new Queue<Outbound>();
        while (_control.TryDequeue(out var item) && (kept += item.Length) <= MaxFlushOnClose) flush.Enqueue(item);
        _control.Clear();
        foreach (var item in flush) _control.Enqueue(item);
        // Before the handshake is done a server answers with Refused (the client is not in yet), else both say Goodbye.
        Frame farewell = _accepted && !_handshakeDone ? new Refused(code, reason) : new Goodbye(code, reason);
        _control.Enqueue(new Outbound(FrameEncoder.Encode(farewell), default));
        while (_control.Count > 0) _transport!.Write(NextWrite(BatchBytes).Write, WriteAck.Instance);
        HalfClose();
    }

    /// <summary>The peer said Goodbye: it sends nothing more. Close our side too (flush, FIN, wait for its FIN) without
    /// a Goodbye of our own; the owner hears the peer's reason.</summary>
    private void ClosePeerLeft()
    {
        _closeReason = $"peer closed the connection: {_peerReason}";
        _data.Clear();
        _control.Clear();
        HalfClose();
    }

    /// <summary>FIN after what was handed to Akka.IO, keep reading until the peer's FIN, abort after close-timeout.</summary>
    private void HalfClose()
    {
        // This connection no longer counts against the node's budget: what it still holds is small and on its way out.
        _gauge?.Release();
        _transport!.Shutdown();
        if (!_readPending) _tcp!.Tell(Akka.IO.Tcp.ResumeReading.Instance);
        Timers.Cancel(nameof(Tick));
        Timers.Cancel(nameof(ThrottleOver));
        Timers.StartSingleTimer(nameof(CloseTimedOut), CloseTimedOut.Instance, _settings.CloseTimeout);
        Become(Closing);
    }

    private void Abort(string reason)
    {
        _closeReason ??= reason;
        if (!_tcpClosed) _tcp?.Tell(Akka.IO.Tcp.Abort.Instance);
        _tcpClosed = true;
        Finish(new Closed(reason, _peerCode));
    }

    private void OnTcpClosed(Akka.IO.Tcp.ConnectionClosed closed)
    {
        _tcpClosed = true;
        if (_closeReason is null && _transport is not null && _transport.DrainAfterClose())
        {
            // TLS may still hold decrypted bytes on their way here (the peer's Goodbye, say): they come first.
            _closedWhileDraining = closed;
            Timers.StartSingleTimer(nameof(CloseTimedOut), CloseTimedOut.Instance, _settings.CloseTimeout);
            Become(Draining);
            return;
        }
        Finish(new Closed(DescribeClose(closed), _peerCode));
    }

    /// <summary>The socket closed while TLS still had bytes to decrypt: deliver them, then finish.</summary>
    private void Draining()
    {
        Receive<ITransportMessage>(m => _transport!.Handle(m));
        Receive<ReadMore>(_ => _batchesUnhandled--);
        Receive<CloseTimedOut>(_ => Finish(new Closed(DescribeClose(_closedWhileDraining!), _peerCode)));
        Receive<Send>(s => (s.Frame as Chunk)?.Release());
        ReceiveAny(_ => { });
    }

    private void LostTcpActor()
    {
        _tcpClosed = true;
        Finish(new Closed(_closeReason ?? "the connection stopped", _peerCode));
    }

    /// <summary>The socket is gone: tell the owner, then wait for it to <see cref="Release"/> this actor. Stopping at
    /// once would turn what the owner is still sending here (a ReadMore, a last frame) into dead letters; waiting,
    /// those arrive first and are dropped. A stop after a few seconds covers an owner that never answers.</summary>
    private void Finish(Closed closed)
    {
        _transport?.Dispose();
        _gauge?.Release();
        Timers.CancelAll();
        if (!_accepted && !_ready)
        {
            // The owner never heard Established: for it the connection was never made.
            NotifyOwner(new ConnectFailed(closed.Reason));
            Context.Stop(Self);
            return;
        }
        NotifyOwner(closed);
        Timers.StartSingleTimer(nameof(Release), Release.Instance, TimeSpan.FromSeconds(5));
        Become(() =>
        {
            Receive<Release>(_ => Context.Stop(Self));
            Receive<Send>(s => (s.Frame as Chunk)?.Release());
            ReceiveAny(_ => { });
        });
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
        _transport?.Dispose();
        _gauge?.Release();
        if (_tcp is not null && !_tcpClosed) _tcp.Tell(Akka.IO.Tcp.Abort.Instance);
        var reason = _closeReason ?? "connection stopped";
        NotifyOwner(!_accepted && !_ready ? new ConnectFailed(reason) : new Closed(reason, _peerCode));
    }
}
