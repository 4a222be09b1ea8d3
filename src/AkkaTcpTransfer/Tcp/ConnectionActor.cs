using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using static AkkaTcpTransfer.Tcp.ConnectionMessages;

namespace AkkaTcpTransfer.Tcp;

/// <summary>One TCP connection, and the only code besides <see cref="ListenerActor"/> that touches Akka.IO. Every link
/// runs on it: a client's connection, a server's session, a link between server nodes. It turns Akka.IO's byte stream
/// into frames for its parent (decoding across any <c>Tcp.Received</c> boundaries) and the parent's frames into writes.
/// A state machine over small parts, each a plain class with tests of its own:
/// <list type="bullet">
/// <item><see cref="IByteTransport"/>: TLS 1.3 or plain, behind a <see cref="SniffingTransport"/> that sees which one the
/// peer speaks; every read, write and end of the socket goes through it.</item>
/// <item><see cref="ReadGate"/>: reading is pulled, while the owner keeps up and the peer keeps to its frame rate.</item>
/// <item><see cref="OutboundQueue"/>: control before file data, a transfer's frames in order, acknowledged writes, what
/// is held counted against <c>connection.max-send-queue</c> and the node's <see cref="SendBudget"/>.</item>
/// <item><see cref="Liveness"/>: pings, the idle timeout, the write timeout.</item>
/// </list>
/// States: <see cref="Connecting"/> (outgoing only), <see cref="Open"/>, <see cref="Closing"/> (a goodbye on its way,
/// FIN sent, reading until the peer's), <see cref="Draining"/> (the socket closed while TLS still held decrypted bytes),
/// <see cref="Finished"/> (the owner has heard <see cref="Closed"/>; waiting for its <see cref="Release"/>).</summary>
internal sealed class ConnectionActor : ReceiveActor, IWithTimers, ITransportOwner
{
    private sealed class WriteAck : Akka.IO.Tcp.Event, IDeadLetterSuppression
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

    /// <summary>Plain bytes from the transport: what they mean depends on the state (frames, or a server's clear refusal).</summary>
    private delegate void BytesHandler(ReadOnlySpan<byte> bytes);

    /// <summary>Most control bytes coalesced into one write: one Akka.IO maximum-frame-size socket send.</summary>
    private const int BatchBytes = 64 * 1024;

    /// <summary>Most queued control bytes still written when closing (well under Akka.IO's write-queue cap, 4 MiB).</summary>
    private const long MaxFlushOnClose = 256 * 1024;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ConnectionSettings _settings;
    private readonly InboundFrames _inbound;
    private readonly List<Frame> _deliver = [];
    /// <summary>Sending transfers that take their Acks straight from here (<see cref="RouteAcks"/>), by id.</summary>
    private readonly Dictionary<uint, IActorRef> _ackRoutes = [];
    private readonly OutboundQueue _outbound = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ReadGate _reads;
    private readonly Liveness _liveness;
    private readonly SendBudget _budget;
    private readonly EndPoint? _connectTo;
    private readonly ConnectionSecurity? _security;
    private readonly TimeSpan _handshakeTimeout;
    /// <summary>An accepted connection (a server's end): before the handshake it refuses with Refused, not Goodbye.</summary>
    private readonly bool _accepted;
    private SendBudget.Gauge? _gauge;
    private SniffingTransport? _transport;
    private BytesHandler _onBytes;
    private IActorRef? _tcp;
    private EndPoint? _remote;
    private EndPoint? _local;
    private int _peerMaxFrame;
    private bool _ready;
    private bool _handshakeDone;
    private bool _tcpClosed;
    private bool _ownerNotified;
    private string? _closeReason;
    /// <summary>How the socket closed, while TLS still hands over what it decrypted before (<see cref="Draining"/>).</summary>
    private Akka.IO.Tcp.ConnectionClosed? _closedWhileDraining;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>A connection Akka.IO accepted for our listener (bound in pull mode): register with it at once.
    /// <paramref name="security"/> null: plaintext.</summary>
    public static Props Accepted(IActorRef tcpConnection, EndPoint remote, NodeSettings settings, ConnectionSecurity? security) =>
        Props.Create(() => new ConnectionActor(tcpConnection, remote, null, settings, security, true, null));

    /// <summary>Connect to <paramref name="remote"/>, then behave as for an accepted connection. With TLS the owner hears
    /// <see cref="Established"/> only once the handshake is done and the server trusted.</summary>
    public static Props Outgoing(EndPoint remote, NodeSettings settings, ConnectionSecurity? security) =>
        Props.Create(() => new ConnectionActor(null, null, remote, settings, security, false, null));

    /// <summary>The client end of a connection that is already up (<paramref name="tcpConnection"/> plays Akka.IO's
    /// connection): for tests that join two connection actors in memory.</summary>
    internal static Props Connected(IActorRef tcpConnection, EndPoint remote, EndPoint local, NodeSettings settings, ConnectionSecurity? security) =>
        Props.Create(() => new ConnectionActor(tcpConnection, remote, null, settings, security, false, local));

    public ConnectionActor(IActorRef? tcpConnection, EndPoint? remote, EndPoint? connectTo, NodeSettings settings, ConnectionSecurity? security,
        bool accepted, EndPoint? local)
    {
        _settings = settings.Connection;
        _security = security;
        _accepted = accepted;
        _tcp = tcpConnection;
        _remote = remote;
        _local = local;
        _connectTo = connectTo;
        _handshakeTimeout = accepted ? settings.Server.HandshakeTimeout : settings.Client.HandshakeTimeout;
        _inbound = new InboundFrames(settings.MaxFrameSize);
        _peerMaxFrame = settings.MaxFrameSize;
        _reads = new ReadGate(_settings.ReadAhead, _settings.MaxFramesPerSecond, _clock.Elapsed);
        _liveness = new Liveness(_settings.IdleTimeout, _settings.WriteTimeout, _clock.Elapsed);
        _budget = SendBudget.For(Context.System, _settings.NodeSendBudget);
        _onBytes = OnFrameBytes;
        if (connectTo is null)
        {
            Become(Open);
            return;
        }
        Context.System.Tcp().Tell(new Akka.IO.Tcp.Connect(connectTo,
            options: [new UnsentLowWatermark(settings.Connection.UnsentLowWatermark)], timeout: settings.Client.ConnectTimeout, pullMode: true));
        Become(Connecting);
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
        // This actor is the handler. For an outgoing connection it is also the commander, which Akka.IO does not
        // death-pact: PostStop aborts the connection explicitly to cover that.
        tcp.Tell(new Akka.IO.Tcp.Register(Self, keepOpenOnPeerClosed: false, useResumeWriting: false));
        _liveness.Received(_clock.Elapsed);
        Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, _settings.KeepaliveInterval);
        IByteTransport Plain() => new PlainTransport(tcp, Self, this);
        _transport = new SniffingTransport(_security is null ? Plain() : new TlsTransport(Self, tcp, this, _security, _handshakeTimeout), Plain,
            expectTls: _security is not null, this);
        _transport.Start();
        MaybeRead();
    }

    // ---------------------------------------------------------------- states

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
            // Akka.IO drops the socket error after its finish-connect retries and says only this.
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
            _reads.Handled();
            MaybeRead();
        });
        Receive<ThrottleOver>(_ =>
        {
            _reads.ThrottleOver();
            MaybeRead();
        });
        Receive<WriteAck>(_ => OnWriteAck());
        Receive<Send>(s => Enqueue(s.Frame, Sender, s.Written));
        Receive<SendEncoded>(s => Enqueue(s.Frame, default, null, data: false));
        Receive<SendWithTail>(s =>
        {
            var frameLength = s.Head.Length + s.Tail.Data.Length - ProtocolLimits.LengthPrefixSize;
            if (frameLength > _peerMaxFrame)
            {
                _log.Warning("not sending a {0}-byte frame to {1}: its limit is {2} bytes", frameLength, _remote, _peerMaxFrame);
                s.Tail.Release();
                return;
            }
            Enqueue(s.Head, OutboundQueue.AsSegment(s.Tail.Data), s.Tail.Pooled ? s.Tail : null, data: false);
        });
        Receive<Post>(p => Enqueue(p.Frame, ActorRefs.Nobody, p.Written, Sender));
        Receive<PostEncoded>(p => Enqueue(p.Frame, default, null, data: false));
        Receive<Close>(c => BeginClose(c.Code, c.Reason));
        Receive<Shed>(_ => BeginClose(WireCode.SlowConsumer,
            $"the server is short of memory for unsent data and this connection held the most ({Units.Bytes(_outbound.Held)}) or was not reading"));
        Receive<ShedRetry>(_ =>
        {
            if (_budget.Total > _budget.Limit) Shed();
        });
        Receive<PeerLimits>(l => _peerMaxFrame = l.MaxFrameLength);
        Receive<RouteAcks>(r => _ackRoutes[r.Id] = r.To);
        Receive<UnrouteAcks>(Unroute);
        Receive<HandshakeDone>(_ => _handshakeDone = true);
        Receive<Tick>(_ => OnTick());
        Receive<Akka.IO.Tcp.ConnectionClosed>(OnTcpClosed);
        Receive<Akka.IO.Tcp.CommandFailed>(f =>
            // Any failed write would leave a hole in the byte stream (Akka.IO goes on accepting later writes after one
            // failed): the connection cannot go on.
            Abort($"write failed: {(f.Cause.HasValue ? f.Cause.Value.Message : "unknown")}"));
        Receive<Terminated>(t => t.ActorRef.Equals(_tcp), _ => LostTcpActor());
    }

    /// <summary>A goodbye (or the peer's) is on its way and our FIN after it; reading goes on, and what is read is
    /// dropped, so that Akka.IO sees the peer's FIN and completes the ConfirmedClose.</summary>
    private void Closing()
    {
        Receive<Akka.IO.Tcp.Received>(_ => _transport!.RequestRead());
        // The transport still finishes its writes (TLS: and its close_notify) before the FIN.
        Receive<ITransportMessage>(m => _transport!.Handle(m));
        Receive<WriteAck>(_ => _outbound.Acknowledged());
        Receive<Send>(s => (s.Frame as Chunk)?.Release());
        Receive<SendWithTail>(s => s.Tail.Release());
        Receive<Akka.IO.Tcp.ConnectionClosed>(OnTcpClosed);
        Receive<CloseTimedOut>(_ => Abort($"{_closeReason} (the peer did not take the last bytes in time)"));
        Receive<Terminated>(t => t.ActorRef.Equals(_tcp), _ => LostTcpActor());
        // Everything else (owner requests, timers of the open state) has nothing left to act on.
        ReceiveAny(_ => { });
    }

    /// <summary>The socket closed while TLS still had bytes to decrypt: deliver them (the peer's Goodbye, say), then finish.</summary>
    private void Draining(Akka.IO.Tcp.ConnectionClosed closed)
    {
        Receive<ITransportMessage>(m => _transport!.Handle(m));
        Receive<ReadMore>(_ => _reads.Handled());
        Receive<CloseTimedOut>(_ => Finish(new Closed(DescribeClose(closed), _inbound.PeerGoodbye?.Code)));
        Receive<Send>(s => (s.Frame as Chunk)?.Release());
        Receive<SendWithTail>(s => s.Tail.Release());
        // Frames are still decoded here: a transfer that ends meanwhile takes its Acks back.
        Receive<UnrouteAcks>(Unroute);
        ReceiveAny(_ => { });
    }

    /// <summary>The socket is gone and the owner told: wait for it to <see cref="Release"/> this actor. Stopping at once
    /// would turn what the owner is still sending here (a ReadMore, a last frame) into dead letters; waiting, those
    /// arrive first and are dropped. A stop after a few seconds covers an owner that never answers.</summary>
    private void Finished()
    {
        Receive<Release>(_ => Context.Stop(Self));
        Receive<Send>(s => (s.Frame as Chunk)?.Release());
        Receive<SendWithTail>(s => s.Tail.Release());
        ReceiveAny(_ => { });
    }

    // ---------------------------------------------------------------- inbound

    /// <summary>Asks for the next read when the gate allows it (else a timer asks again once the peer's rate allows).</summary>
    private void MaybeRead()
    {
        if (_transport is null || _tcpClosed || _closeReason is not null) return;
        switch (_reads.Next(_clock.Elapsed, _transport.WantsInput))
        {
            case ReadGate.Decision.Read:
                _transport.RequestRead();
                break;
            case ReadGate.Decision.Throttle:
                Timers.StartSingleTimer(nameof(ThrottleOver), ThrottleOver.Instance, _reads.RetryAfter);
                break;
        }
    }

    private void OnReceived(Akka.IO.Tcp.Received received)
    {
        _reads.Received();
        _liveness.Received(_clock.Elapsed);
        // Plain: decoded right here (Plaintext is called back at once). TLS: queued for decryption; the plaintext comes
        // back later as a message.
        _transport!.Received(received.Data);
        MaybeRead();
    }

    void ITransportOwner.Plaintext(ReadOnlySpan<byte> bytes)
    {
        if (_closeReason is null) _onBytes(bytes);
    }

    private void Unroute(UnrouteAcks unroute)
    {
        if (_ackRoutes.TryGetValue(unroute.Id, out var to) && to.Equals(unroute.To)) _ackRoutes.Remove(unroute.Id);
    }

    /// <summary>The frames of the protocol, delivered to the owner in a batch, with a barrier after it; a sending
    /// transfer's Acks go straight to it (<see cref="RouteAcks"/>), so a batch of only those involves no owner.</summary>
    private void OnFrameBytes(ReadOnlySpan<byte> bytes)
    {
        var (decoded, violation) = _inbound.Read(bytes, _handshakeDone, _deliver);
        var toOwner = 0;
        foreach (var frame in _deliver)
        {
            if (frame is Ack ack && _ackRoutes.TryGetValue(ack.Id, out var sender)) sender.Tell(ack);
            else
            {
                Context.Parent.Tell(new FrameReceived(frame));
                toOwner++;
            }
        }
        if (toOwner > 0)
        {
            // The owner answers this with ReadMore once it has handled every frame before it (its mailbox is in order).
            Context.Parent.Tell(Delivered.Instance);
            _reads.Delivered();
        }
        _deliver.Clear();
        if (violation is not null)
        {
            _log.Info("closing connection from {0}: {1}", _remote, violation.Message);
            BeginClose(WireCode.ProtocolViolation, $"protocol violation: {violation.Message}");
            return;
        }
        if (_inbound.PeerGoodbye is { } bye && !_tcpClosed)
        {
            // The peer said Goodbye: it sends nothing more. Close our side too, without a Goodbye of our own.
            _closeReason = $"peer closed the connection: {bye.Reason}";
            _outbound.Clear();
            HalfClose();
            return;
        }
        _reads.Decoded(_clock.Elapsed, decoded);
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
        else NotifyOwner(new ConnectFailed(reason, Trust: trust?.Problem, Fingerprint: trust?.PresentedFingerprint));
        Abort(reason);
    }

    /// <summary>The peer speaks TLS where we do not, or the other way round. A server says so in the clear (a Refused
    /// frame: the one thing the peer can read); a TLS client reads the server's clear answer, which can only be a refusal.</summary>
    void ITransportOwner.EncryptionMismatch(bool peerSpeaksTls)
    {
        if (_accepted)
        {
            _log.Info("refusing {0}: it {1}", _remote, peerSpeaksTls ? "speaks TLS to a server without it" : "does not speak TLS");
            BeginClose(WireCode.EncryptionMismatch, peerSpeaksTls
                ? "this server does not use TLS (it was started with --insecure): connect with --insecure, or ask for a server with TLS"
                : "this server requires TLS: connect with a TLS client (akka-tcp-transfer without --insecure)");
            return;
        }
        _onBytes = ReadClearRefusal;
    }

    /// <summary>A TLS client got clear bytes from the server: they can only be a refusal.</summary>
    private void ReadClearRefusal(ReadOnlySpan<byte> bytes)
    {
        var (complete, refused) = _inbound.ReadClearRefusal(bytes);
        if (!complete) MaybeRead();
        else if (refused is not null) FailConnect($"refused by the server: {refused.Reason}", refused.Code);
        else FailConnect("the server answered without TLS: it is not an akka-tcp-transfer server with TLS " +
                         "(if it was started with --insecure, connect with --insecure too)", null);
    }

    private void FailConnect(string reason, WireCode? code)
    {
        NotifyOwner(new ConnectFailed(reason, code));
        Abort(reason);
    }

    void ITransportOwner.InputEnded(string? error)
    {
        if (_closedWhileDraining is { } closed)
        {
            Finish(new Closed(error ?? DescribeClose(closed), _inbound.PeerGoodbye?.Code));
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
        _closeReason = _inbound.MidFrame ? "peer closed the connection in the middle of a frame" : "peer closed the connection";
        _outbound.Clear();
        HalfClose();
    }

    // ---------------------------------------------------------------- outbound

    /// <param name="requester">Told <see cref="SendFailed"/> if the frame cannot go.</param>
    /// <param name="written">Told to <paramref name="writtenTo"/> (the requester unless given) once the frame is in the socket.</param>
    private void Enqueue(Frame frame, IActorRef requester, object? written = null, IActorRef? writtenTo = null)
    {
        (byte[] Head, ArraySegment<byte> Body, Chunk? Release) encoded;
        try
        {
            encoded = OutboundQueue.Encode(frame);
        }
        catch (ArgumentException e)
        {
            // Peer-chosen text is capped or validated before it reaches a frame; this is a bug, not a peer's doing.
            _log.Error(e, "cannot encode a {0} frame for {1}", frame.Type, _remote);
            requester.Tell(new SendFailed(frame, $"cannot encode the {frame.Type} frame: {e.Message}"));
            return;
        }
        var frameLength = encoded.Head.Length + encoded.Body.Count - ProtocolLimits.LengthPrefixSize;
        if (frameLength > _peerMaxFrame)
        {
            _log.Warning("not sending a {0}-byte {1} frame to {2}: its limit is {3} bytes", frameLength, frame.Type, _remote, _peerMaxFrame);
            requester.Tell(new SendFailed(frame, $"the {frame.Type} frame ({frameLength} bytes) is larger than the peer accepts ({_peerMaxFrame} bytes)"));
            return;
        }
        var notify = writtenTo ?? requester;
        Enqueue(encoded.Head, encoded.Body, encoded.Release, OutboundQueue.IsData(frame),
            written is null ? null : () => notify.Tell(written));
    }

    private void Enqueue(byte[] head, ArraySegment<byte> body, Chunk? release, bool data, Action? written = null)
    {
        var length = head.Length + body.Count;
        if (_outbound.Held + length > _settings.MaxSendQueue)
        {
            BeginClose(WireCode.SlowConsumer, $"more than {Units.Bytes(_settings.MaxSendQueue)} waited to be sent to this peer: it reads too slowly");
            return;
        }
        _outbound.Enqueue(head, body, release, data, written);
        if (_gauge!.Add(length)) Shed();
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
            if (!Timers.IsTimerActive(nameof(ShedRetry))) Timers.StartSingleTimer(nameof(ShedRetry), ShedRetry.Instance, SendBudget.ShedInterval);
            return;
        }
        _log.Warning("over the node's send budget ({0} held, limit {1}): closing {2} connection(s) with the most unsent data",
            Units.Bytes(_budget.Total), Units.Bytes(_budget.Limit), victims.Count);
        foreach (var victim in victims) victim.Connection.Tell(ConnectionMessages.Shed.Instance);
    }

    private void OnWriteAck()
    {
        var bytes = _outbound.Acknowledged();
        _liveness.Progressed(_clock.Elapsed);
        _gauge!.Acked(bytes);
        _gauge.Add(-bytes);
        TrySend();
    }

    /// <summary>Hands writes to the transport while fewer than writes-in-flight are outstanding: each is every queued
    /// control frame (up to one socket send) plus at most one data frame, whose bytes are not copied.</summary>
    private void TrySend()
    {
        while (_outbound.InFlight < _settings.WritesInFlight && _outbound.Next(BatchBytes) is { } write)
        {
            _liveness.Wrote(_clock.Elapsed, firstInFlight: _outbound.InFlight == 1);
            _transport!.Write(write, WriteAck.Instance);
        }
    }

    // ---------------------------------------------------------------- liveness

    private void OnTick()
    {
        var now = _clock.Elapsed;
        switch (_liveness.Tick(now, _reads.Pending, _outbound.InFlight, mayPing: _handshakeDone))
        {
            case Liveness.Verdict.Idle:
                BeginClose(WireCode.IdleTimeout, $"nothing received for {_liveness.Silent(now).TotalSeconds:0.#} s: the peer is gone");
                break;
            case Liveness.Verdict.Stuck:
                BeginClose(WireCode.SlowConsumer,
                    $"the peer took nothing for {_liveness.Stalled(now).TotalSeconds:0.#} s ({Units.Bytes(_outbound.Held)} waiting for it)");
                break;
            case Liveness.Verdict.Ping:
                Enqueue(Ping.Instance, Self);
                break;
        }
    }

    // ---------------------------------------------------------------- closing

    /// <summary>Graceful close: drop file data, send the remaining control frames and a Goodbye (a Refused, from a server
    /// before the handshake is done), then half-close. Closing the socket outright would answer any bytes still arriving
    /// from the peer with an RST, which can overtake the Goodbye and lose the reason.</summary>
    private void BeginClose(WireCode code, string reason)
    {
        if (_closeReason is not null) return;
        _closeReason = reason;
        // What is still queued goes out first, but no more than Akka.IO's own queue takes (past its byte cap a write fails,
        // and the farewell would be lost): a slow consumer's backlog is dropped, its Goodbye is not.
        _outbound.DropForClose(MaxFlushOnClose);
        Frame farewell = _accepted && !_handshakeDone ? new Refused(code, reason) : new Goodbye(code, reason);
        _outbound.Enqueue(FrameEncoder.Encode(farewell), default, null, data: false);
        while (_outbound.Next(BatchBytes) is { } write) _transport!.Write(write, WriteAck.Instance);
        HalfClose();
    }

    /// <summary>FIN after what was handed on, keep reading until the peer's FIN, abort after close-timeout.</summary>
    private void HalfClose()
    {
        // This connection no longer counts against the node's budget: what it still holds is small and on its way out.
        _gauge?.Release();
        _reads.Closed = true;
        _transport!.HalfClose();
        if (!_reads.Pending)
        {
            _reads.ForceRead();
            _transport.RequestRead();
        }
        Timers.Cancel(nameof(Tick));
        Timers.Cancel(nameof(ThrottleOver));
        Timers.StartSingleTimer(nameof(CloseTimedOut), CloseTimedOut.Instance, _settings.CloseTimeout);
        Become(Closing);
    }

    private void Abort(string reason)
    {
        _closeReason ??= reason;
        if (!_tcpClosed) _transport?.Abort();
        _tcpClosed = true;
        Finish(new Closed(reason, _inbound.PeerGoodbye?.Code));
    }

    private void OnTcpClosed(Akka.IO.Tcp.ConnectionClosed closed)
    {
        _tcpClosed = true;
        if (_closeReason is null && _transport is not null && _transport.DrainAfterClose())
        {
            _closedWhileDraining = closed;
            Timers.StartSingleTimer(nameof(CloseTimedOut), CloseTimedOut.Instance, _settings.CloseTimeout);
            Become(() => Draining(closed));
            return;
        }
        Finish(new Closed(DescribeClose(closed), _inbound.PeerGoodbye?.Code));
    }

    private void LostTcpActor()
    {
        _tcpClosed = true;
        Finish(new Closed(_closeReason ?? "the connection stopped", _inbound.PeerGoodbye?.Code));
    }

    /// <summary>The socket is gone: tell the owner (an outgoing connection that never got as far as
    /// <see cref="Established"/> was never made, for its owner), then wait for its <see cref="Release"/>.</summary>
    private void Finish(Closed closed)
    {
        _transport?.Dispose();
        _gauge?.Release();
        Timers.CancelAll();
        if (!_accepted && !_ready)
        {
            NotifyOwner(new ConnectFailed(closed.Reason));
            Context.Stop(Self);
            return;
        }
        NotifyOwner(closed);
        Timers.StartSingleTimer(nameof(Release), Release.Instance, TimeSpan.FromSeconds(5));
        Become(Finished);
    }

    private string DescribeClose(Akka.IO.Tcp.ConnectionClosed closed)
    {
        if (_closeReason is not null) return _closeReason;
        if (_inbound.PeerGoodbye is { } bye) return $"peer closed the connection: {bye.Reason}";
        var midFrame = _inbound.MidFrame ? " in the middle of a frame" : "";
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
        _gauge?.Release();
        // A socket still open is cut (an outgoing connection is not death-pacted with this actor by Akka.IO).
        if (_tcpClosed) _transport?.Dispose();
        else if (_transport is not null) _transport.Abort();
        else _tcp?.Tell(Akka.IO.Tcp.Abort.Instance);
        _transport?.Dispose();
        var reason = _closeReason ?? "connection stopped";
        NotifyOwner(!_accepted && !_ready ? new ConnectFailed(reason) : new Closed(reason, _inbound.PeerGoodbye?.Code));
    }
}
