using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Limits;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Accounts;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Relay;
using AkkaTcpTransfer.Server.Replay;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Text;
using ErrorFrame = AkkaTcpTransfer.Protocol.Error;
using AkkaTcpTransfer.Server.Lines;

namespace AkkaTcpTransfer.Server;

/// <summary>The server's side of one client, its session: owns that client's <see cref="ConnectionActor"/>, runs the
/// server half of the handshake (version, frame limit, token, name, resume key), then turns the client's frames into
/// requests to the registry, its rooms, its account and the name registry, and their answers into frames, within the
/// client's rate limits. Transfers with the server itself are its children (<see cref="TransferEndpoint"/>); transfers
/// between this client and another pass through its <see cref="RelayTable"/>; history goes to the client through a
/// <see cref="HistoryReplayActor"/> child, one stretch at a time. Lives as long as its connection, plus the moment its
/// transfers need to wind down.</summary>
/// <remarks>Supervision: every child (the connection, transfer actors, a history replay) is stopped on failure, never
/// restarted. A stopped connection ends the session; a stopped transfer actor fails its own transfer at both ends; a
/// stopped replay ends that request (the client hears why), and the next one starts.</remarks>
internal sealed class PeerActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    private sealed class HandshakeTimedOut
    {
        public static readonly HandshakeTimedOut Instance = new();
    }

    private sealed class WindDownTimedOut
    {
        public static readonly WindDownTimedOut Instance = new();
    }

    private sealed class SweepRelays
    {
        public static readonly SweepRelays Instance = new();
    }

    /// <summary>The rate of the request at the head of the backlog allows it now (or a deferred line may ask again).</summary>
    private sealed class PaceOver
    {
        public static readonly PaceOver Instance = new();
    }

    /// <summary>The registry (or another node's) did not answer a line within chat.confirm-timeout.</summary>
    private sealed record ConfirmTimedOut(uint Id);

    /// <summary>No answer yet to the line being asked about: ask again (the room or account stores it once).</summary>
    private sealed record AskAgain(uint Id);

    /// <summary>How long a line waits for its answer before it is asked for again. In a cluster a request can be lost
    /// with a node that dies while the room or account lives there; asked again, it reaches the entity once it has moved
    /// to a node that lives (chat.confirm-timeout bounds the whole wait).</summary>
    private static readonly TimeSpan AskAgainAfter = TimeSpan.FromSeconds(1);

    /// <summary>This session's part of its lines' keys (<see cref="RecentLines"/>): unique among the server's sessions.</summary>
    private readonly string _origin = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    /// <summary>How many lines this session has asked about: with <see cref="_origin"/>, the asked line's key (a client's
    /// line ids are its own and may repeat, so they cannot tell two lines apart).</summary>
    private ulong _asked;

    /// <summary>A rate-limited request (Say, WhoRequest) waiting its turn; <see cref="Charged"/> once its token is taken.</summary>
    private sealed class Paced(Frame frame)
    {
        public Frame Frame { get; } = frame;
        public bool Charged { get; set; }
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IActorRef _registry;
    private readonly EndPoint _remote;
    private readonly IActorRef _connection;
    private readonly IActorRef _transfers;
    private readonly TransferEndpoint _endpoint;
    private readonly RelayTable _relays;
    private readonly byte[] _serverId;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TokenBucket _chatRate;
    private readonly TokenBucket _whoRate;
    private readonly TokenBucket _offerRate;
    private readonly TokenBucket _roomsRate;
    private readonly TokenBucket _historyRate;
    private readonly TokenBucket _tolerance;
    private readonly ServerEntities _entities;
    /// <summary>Stretches of history waiting to be sent (one replay runs at a time), and whether each is the direct
    /// messages kept for this client (its account hears when they are sent).</summary>
    private readonly Queue<(HistoryReplayActor.Request Request, bool Direct)> _replays = new();
    private IActorRef? _replaying;
    private bool _replayingDirect;
    private long _replayingTo;
    private string _identityHex = "";
    private TimeSpan _lastRateError = TimeSpan.FromHours(-1);
    /// <summary>Requests over their rate wait here in arrival order (the fakelag of IRC servers): the client is slowed,
    /// never refused, while at most limits.backlog wait. While any wait, its connection is not read further.</summary>
    private readonly Queue<Paced> _paced = new();
    /// <summary>The line the registry (or a room) has been asked to pass on and has not yet answered (one at a time, in order).</summary>
    private Protocol.Say? _asking;
    /// <summary>A join or leave of this room is under way: requests after it wait until it is settled, so that a line to a
    /// room sent right after joining it finds the client a member (and one sent after leaving, not).</summary>
    private string? _roomChange;

    /// <summary>The join or leave was not settled within chat.confirm-timeout (a part of the server that did not answer):
    /// what waits behind it goes on.</summary>
    private sealed class RoomChangeTimedOut
    {
        public static readonly RoomChangeTimedOut Instance = new();
    }

    /// <summary>The registry deferred <see cref="_asking"/> for the sender's fan-out allowance: it asks again later.</summary>
    private bool _askingDeferred;
    /// <summary>Read barriers of the connection held back while requests wait for their rate.</summary>
    private int _heldReads;
    private string _name = "";
    private byte[] _identity = [];
    /// <summary>Files kept for their recipients (several, or offline), or null when this server keeps none.</summary>
    private readonly IActorRef? _spool;
    /// <summary>Ids of offers the spool is deciding on: taken on this connection until it answers.</summary>
    private readonly HashSet<uint> _spoolPending = [];
    /// <summary>SHA-256 claimed for an offer about to come (Claim precedes its Offer), at most spool.claims-per-connection.</summary>
    private readonly Dictionary<uint, byte[]> _claims = [];
    /// <summary>Offers whose client is asked to prove it holds content the server keeps: the spool's token for each.</summary>
    private readonly Dictionary<uint, long> _proving = [];
    private int _peerMaxFrame;
    private string? _closeReason;
    private bool _joinSent;
    private bool _left;
    private bool _connectionStopped;
    private bool _released;

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    /// <param name="serverId">The server's identity digest, stamped on the offers it sends this client.</param>
    /// <param name="security">The server's TLS identity, or null for plaintext.</param>
    /// <param name="links">In a cluster, the node links that carry relays to sessions on other nodes; else null.</param>
    public static Props Props(IActorRef tcpConnection, EndPoint remote, NodeSettings settings, IActorRef registry, IActorRef transfers,
        IActorRef partials, byte[] serverId, ConnectionSecurity.Server? security, ServerEntities entities, IActorRef? links = null) =>
        Akka.Actor.Props.Create(() => new PeerActor(tcpConnection, remote, settings, registry, transfers, partials, serverId, security, entities, links));

    public PeerActor(IActorRef tcpConnection, EndPoint remote, NodeSettings settings, IActorRef registry, IActorRef transfers,
        IActorRef partials, byte[] serverId, ConnectionSecurity.Server? security, ServerEntities entities, IActorRef? links)
    {
        _entities = entities;
        _serverId = serverId;
        _settings = settings;
        _registry = registry;
        _remote = remote;
        _transfers = transfers;
        var limits = settings.Limits;
        var now = _clock.Elapsed;
        _chatRate = new TokenBucket(limits.ChatPerSecond, limits.ChatBurst, now);
        _whoRate = new TokenBucket(limits.WhoPerSecond, limits.WhoBurst, now);
        _offerRate = new TokenBucket(limits.OffersPerSecond, limits.OffersBurst, now);
        _roomsRate = new TokenBucket(limits.RoomsPerSecond, limits.RoomsBurst, now);
        _historyRate = new TokenBucket(limits.HistoryPerSecond, limits.HistoryBurst, now);
        _tolerance = new TokenBucket(1, limits.ExcessTolerance, now);
        _connection = Context.ActorOf(ConnectionActor.Accepted(tcpConnection, remote, settings, security), "connection");
        Context.Watch(_connection);
        _endpoint = new TransferEndpoint(Context, settings, transfers, partials, settings.Name);
        _spool = entities.Spool;
        _relays = new RelayTable(Context, settings, registry, links, _spool is null ? null : o => KeepForRecipients(o, [o.To]));
        Become(AwaitingHello);
    }

    /// <summary>A connection, a session or a transfer that fails is over: stop it, never restart it into a half state.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    protected override void PreStart() =>
        Timers.StartSingleTimer(nameof(HandshakeTimedOut), HandshakeTimedOut.Instance, _settings.Server.HandshakeTimeout);

    private void AwaitingHello()
    {
        Receive<ConnectionMessages.FrameReceived>(f => f.Frame is Hello, f => OnHello((Hello)f.Frame));
        Receive<ConnectionMessages.FrameReceived>(f => Refuse(WireCode.ProtocolViolation, $"expected Hello first, got {f.Frame.Type}"));
        Receive<ConnectionMessages.Delivered>(_ => Sender.Tell(ConnectionMessages.ReadMore.Instance));
        CommonWhileHandshaking();
    }

    private void Joining()
    {
        Receive<SessionMessages.Joined>(OnJoined);
        Receive<SessionMessages.JoinRefused>(r => Refuse(r.Code, r.Reason));
        // The registry has sent the Welcome; a quick client may answer before Joined reaches us. Keep its frames (and
        // the read barrier after them: the connection reads no more until they are handled, so this stash is bounded).
        Receive<ConnectionMessages.FrameReceived>(_ => Stash.Stash());
        Receive<ConnectionMessages.Delivered>(_ => Stash.Stash());
        // The registry told the client's account it is online before telling us: its kept messages may come first.
        Receive<AccountMessages.ReplayDirect>(_ => Stash.Stash());
        CommonWhileHandshaking();
    }

    private void CommonWhileHandshaking()
    {
        Receive<HandshakeTimedOut>(_ => Refuse(WireCode.HandshakeTimeout,
            $"no handshake within {_settings.Server.HandshakeTimeout.TotalSeconds:0.###} s"));
        Receive<ListenerMessages.ShutdownNotice>(n => Close(WireCode.ServerShutdown, n.Reason));
        Receive<ListenerMessages.Evict>(e => Refuse(WireCode.ServerFull, e.Reason));
        CommonAlways();
    }

    private void Online()
    {
        Receive<ConnectionMessages.FrameReceived>(f => OnFrame(f.Frame));
        Receive<ConnectionMessages.Delivered>(_ =>
        {
            // Requests wait for their rate: read no further until they have gone (TCP slows the client down).
            if (Waiting) _heldReads++;
            else Sender.Tell(ConnectionMessages.ReadMore.Instance);
        });
        Receive<SessionMessages.WhoResult>(w => _connection.Tell(new ConnectionMessages.Send(new WhoReply(w.Names))));
        Receive<LineAnswers.SayDone>(d => Answered(d.Id, new SayAck(d.Id, d.AtMs, d.Held)));
        Receive<RoomMessages.HistoryRange>(r => Replay(new HistoryReplayActor.Request(r.Target, r.PersistenceId, r.From, r.To, r.More, 0), direct: false));
        Receive<AccountMessages.ReplayDirect>(r => Replay(r.Request, direct: true));
        Receive<HistoryReplayActor.Finished>(_ => { });
        Receive<NameMessages.Status>(st => _connection.Tell(new ConnectionMessages.Send(new NameStatus(st.Name, st.Registered, st.Reason))));
        Receive<RoomMessages.Settled>(_ => RoomChangeOver());
        Receive<RoomChangeTimedOut>(_ => RoomChangeOver());
        Receive<LineAnswers.SayFailed>(f => Answered(f.Id, new SayRefused(f.Id, f.Code, f.Reason)));
        Receive<LineAnswers.SayDeferred>(d =>
        {
            if (_asking?.Id != d.Id) return;
            _askingDeferred = true;
            Timers.Cancel(nameof(ConfirmTimedOut));
            Timers.Cancel(nameof(AskAgain));
            Timers.StartSingleTimer(nameof(PaceOver), PaceOver.Instance, d.Wait);
        });
        Receive<PaceOver>(_ =>
        {
            if (_askingDeferred && _asking is { } again)
            {
                _askingDeferred = false;
                Ask(again);
            }
            Pump();
        });
        Receive<AskAgain>(a =>
        {
            if (_asking is not { } asking || asking.Id != a.Id || _askingDeferred) return;
            Send(asking);
            Timers.StartSingleTimer(nameof(AskAgain), a, AskAgainAfter);
        });
        Receive<ConfirmTimedOut>(t => Answered(t.Id, new SayRefused(t.Id, WireCode.Unavailable,
            $"not confirmed: the server did not pass the line on within {Units.Seconds(_settings.Chat.ConfirmTimeout)}")));
        Receive<SessionMessages.Replaced>(_ => Close(WireCode.Replaced, "this client reconnected on a new connection"));
        Receive<ListenerMessages.ShutdownNotice>(n => Close(WireCode.ServerShutdown, n.Reason));
        Receive<ListenerMessages.Evict>(_ => { });
        Receive<TransferMessages.StartSend>(spec => _endpoint.StartSend(spec, _connection, _serverId));
        Receive<Spool.SpoolRequests.Deliver>(d => _endpoint.StartSend(d.Spec, _connection, d.SenderId, Sender, d.From));
        Receive<Spool.SpoolRequests.UploadAccepted>(a =>
        {
            // The spool reserved room for it: given back unless a receiver takes the upload (which gives it back itself).
            if (!_spoolPending.Remove(a.Offer.Id)
                || !_endpoint.Offer(a.Offer, _connection, _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead, origin: "", a.Target))
                a.Target.Spool.Tell(new SpoolMessages.UploadEnded(a.Target.Token));
        });
        Receive<Spool.SpoolRequests.UploadRefused>(r =>
        {
            _proving.Remove(r.Id);
            if (_spoolPending.Remove(r.Id)) _connection.Tell(new ConnectionMessages.Send(new Reject(r.Id, r.Reason)));
        });
        Receive<Spool.SpoolRequests.GetRefused>(r => _connection.Tell(new ConnectionMessages.Send(new ErrorFrame(WireCode.NoSuchFile, r.Reason))));
        Receive<Spool.SpoolRequests.ProveFirst>(p =>
        {
            if (!_spoolPending.Contains(p.Offer.Id)) return;
            _proving[p.Offer.Id] = p.Token;
            _connection.Tell(new ConnectionMessages.Send(new Prove(p.Offer.Id, p.Offset, p.Length, p.Nonce)));
        });
        Receive<Spool.SpoolRequests.KeptAlready>(k =>
        {
            if (!_spoolPending.Remove(k.Id)) return;
            _connection.Tell(new ConnectionMessages.Send(new Verified(k.Id, k.Sha256)));
            _connection.Tell(new ConnectionMessages.Send(new Held(k.Id, k.FileId, k.Recipients)));
        });
        Receive<RelayMessages.RelayOffer>(o => _relays.OnRelayOffer(o, _endpoint.Owns(o.Offer.Id), _clock.Elapsed));
        Receive<RelayMessages.RelayFrame>(f => _relays.OnRelayFrame(f, _clock.Elapsed));
        Receive<RelayMessages.RelayGone>(_relays.OnGone);
        Receive<SessionMessages.OfferRecipient>(r => _relays.OnRecipient(r, _clock.Elapsed));
        Receive<SweepRelays>(_ => _relays.Sweep(_clock.Elapsed));
        Receive<ConnectionMessages.SendFailed>(f =>
        {
            if (!_relays.OnSendFailed(f)) _log.Warning("{0}: a {1} frame could not be sent: {2}", _name, f.Frame.Type, f.Reason);
        });
        CommonAlways();
    }

    private void Closing()
    {
        Receive<ConnectionMessages.FrameReceived>(_ => { });
        Receive<ConnectionMessages.Delivered>(_ => { });
        Receive<ConnectionMessages.SendFailed>(_ => { });
        Receive<SessionMessages.Joined>(_ => { });
        Receive<SessionMessages.JoinRefused>(_ => { });
        Receive<SessionMessages.WhoResult>(_ => { });
        Receive<LineAnswers.SayFailed>(_ => { });
        Receive<LineAnswers.SayDone>(_ => { });
        Receive<LineAnswers.SayDeferred>(_ => { });
        Receive<RoomMessages.HistoryRange>(_ => { });
        Receive<AccountMessages.ReplayDirect>(_ => { });
        Receive<HistoryReplayActor.Finished>(_ => { });
        Receive<NameMessages.Status>(_ => { });
        Receive<RoomMessages.Settled>(_ => { });
        Receive<RoomChangeTimedOut>(_ => { });
        Receive<PaceOver>(_ => { });
        Receive<ConfirmTimedOut>(_ => { });
        Receive<AskAgain>(_ => { });
        Receive<SessionMessages.Replaced>(_ => { });
        Receive<SessionMessages.OfferRecipient>(_ => { });
        Receive<RelayMessages.RelayFrame>(_ => { });
        Receive<RelayMessages.RelayGone>(_ => { });
        Receive<HandshakeTimedOut>(_ => { });
        Receive<SweepRelays>(_ => { });
        Receive<ListenerMessages.ShutdownNotice>(_ => { });
        Receive<ListenerMessages.Evict>(_ => { });
        NotTakingTransfers();
        CommonAlways();
    }

    /// <summary>The connection is gone: the transfer children are handling ConnectionLost (a receiver parks its
    /// partial file for a resume) and the registry is announcing the leave. The connection actor is let go only after
    /// both (the registry's Left, the last transfer child stopped), so that nothing either of them sent it is left to
    /// dead letters; then this actor stops. A grace period bounds it all.</summary>
    private void WindingDown()
    {
        Receive<SessionMessages.Left>(_ =>
        {
            _left = true;
            MaybeStop();
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_connection)) _connectionStopped = true;
            else _endpoint.Terminated(t.ActorRef);
            MaybeStop();
        });
        Receive<ConnectionMessages.Closed>(_ => { });
        Receive<WindDownTimedOut>(_ => Context.Stop(Self));
        Receive<TransferMessages.Finished>(_endpoint.Finished);
        NotTakingTransfers();
        ReceiveAny(_ => { });
    }

    private void MaybeStop()
    {
        if (!_left || Context.GetChildren().Any(c => !c.Equals(_connection))) return;
        if (_connectionStopped)
        {
            Context.Stop(Self);
            return;
        }
        if (_released) return;
        _released = true;
        _connection.Tell(ConnectionMessages.Release.Instance);
    }

    private void NotTakingTransfers()
    {
        Receive<TransferMessages.StartSend>(spec => _transfers.Tell(new TransferMessages.SendRefused(spec.Id, $"{DisplayName} disconnected")));
        Receive<RelayMessages.RelayOffer>(o => o.SenderPeer.Tell(new RelayMessages.RelayFrame(new Reject(o.Offer.Id, $"{DisplayName} disconnected"))));
        Receive<Spool.SpoolRequests.Deliver>(d => Sender.Tell(new TransferMessages.SendRefused(d.Spec.Id, $"{DisplayName} disconnected")));
        Receive<Spool.SpoolRequests.UploadAccepted>(a => a.Target.Spool.Tell(new SpoolMessages.UploadEnded(a.Target.Token)));
        Receive<Spool.SpoolRequests.UploadRefused>(_ => { });
        Receive<Spool.SpoolRequests.GetRefused>(_ => { });
        Receive<Spool.SpoolRequests.ProveFirst>(_ => { });
        Receive<Spool.SpoolRequests.KeptAlready>(_ => { });
    }

    private string DisplayName => _name.Length > 0 ? _name : _remote.ToString()!;

    private void CommonAlways()
    {
        Receive<ConnectionMessages.Closed>(c =>
        {
            _closeReason = c.Reason;
            if (_name.Length > 0) _log.Info("{0} ({1}) disconnected: {2}", _name, _remote, c.Reason);
            else _log.Debug("{0} disconnected before joining: {1}", _remote, c.Reason);
            ConnectionGone();
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_connection), _ =>
        {
            _connectionStopped = true;
            ConnectionGone();
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_replaying), _ => ReplayEnded());
        Receive<Terminated>(t =>
        {
            _relays.PeerTerminated(t.ActorRef);
            _endpoint.Terminated(t.ActorRef);
        });
        Receive<TransferMessages.Finished>(_endpoint.Finished);
    }

    private void ConnectionGone()
    {
        var reason = _closeReason ?? "connection closed";
        // Its account keeps direct messages for the next connection from now on.
        if (_identityHex.Length > 0) ToAccount(new AccountMessages.Offline(Self));
        _replays.Clear();
        if (_replaying is not null) Context.Stop(_replaying);
        _relays.ClientGone(reason);
        _endpoint.ConnectionLost(reason);
        // Leave also after a Join the registry may not have answered yet: it handles them in order.
        if (_joinSent) _registry.Tell(SessionMessages.Leave.Instance);
        else _left = true;
        Timers.Cancel(nameof(SweepRelays));
        Timers.StartSingleTimer(nameof(WindDownTimedOut), WindDownTimedOut.Instance, TimeSpan.FromSeconds(10));
        Stash.ClearStash();
        Become(WindingDown);
        MaybeStop();
    }

    // ---------------------------------------------------------------- handshake

    private void OnHello(Hello hello)
    {
        if (hello.Version != ProtocolLimits.Version)
        {
            Refuse(WireCode.UnsupportedVersion, $"protocol version {hello.Version} is not supported; this server speaks version {ProtocolLimits.Version}");
            return;
        }
        // Every frame the server may send this client must fit its limit: the longest chat line with its names.
        var minFrame = _settings.Chat.MaxMessageBytes + 1024;
        if (hello.MaxFrameLength < minFrame)
        {
            Refuse(WireCode.ProtocolViolation, $"a frame limit of {hello.MaxFrameLength} bytes is too small: this server sends frames of up to {minFrame} bytes");
            return;
        }
        if (ClientIdentity.Validate(hello.ResumeKey) is { } badKey)
        {
            Refuse(WireCode.ProtocolViolation, badKey);
            return;
        }
        if (!TokenMatches(hello.Token))
        {
            Context.Parent.Tell(new ListenerMessages.Misbehaved(_remote, ListenerMessages.Misbehaviour.WrongToken));
            Refuse(WireCode.BadToken, hello.Token.Length == 0 ? "this server requires a token" : "wrong token");
            return;
        }
        var name = hello.Name.Trim();
        if (name.Length == 0 || PeerNames.Validate(name) is { } invalid)
        {
            Refuse(WireCode.InvalidName, name.Length == 0 ? "a name is required" : $"invalid name: {PeerNames.Validate(name)}");
            return;
        }
        _peerMaxFrame = hello.MaxFrameLength;
        _connection.Tell(new ConnectionMessages.PeerLimits(hello.MaxFrameLength));
        _registry.Tell(new SessionMessages.Join(name, hello.ResumeKey, _connection, hello.MaxFrameLength));
        _joinSent = true;
        Become(Joining);
    }

    private bool TokenMatches(string presented)
    {
        if (_settings.Token.Length == 0) return true;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(_settings.Token));
    }

    private void OnJoined(SessionMessages.Joined joined)
    {
        Timers.Cancel(nameof(HandshakeTimedOut));
        _name = joined.Name;
        _identity = joined.Identity;
        _identityHex = Convert.ToHexStringLower(joined.Identity);
        _relays.Attach(_connection, _name, _identity, _peerMaxFrame);
        Context.Parent.Tell(ListenerMessages.Admitted.Instance);
        Timers.StartPeriodicTimer(nameof(SweepRelays), SweepRelays.Instance, TimeSpan.FromSeconds(1));
        _log.Info("{0} joined from {1}", _name, _remote);
        _spool?.Tell(new Spool.SpoolRequests.Online(_identityHex, _name, _connection));
        Become(Online);
        Stash.UnstashAll();
    }

    // ---------------------------------------------------------------- online

    private void OnFrame(Frame frame)
    {
        switch (frame)
        {
            case Protocol.Say or WhoRequest or Offer or JoinRoom or LeaveRoom or RoomsRequest or MembersRequest or SetTopic
                or HistoryRequest or Unregister or GetFile:
                Pace(frame);
                break;
            case Claim claim:
                // Kept for the Offer that follows; a client that claims and never offers fills only this small table.
                if (_claims.Count >= _settings.Spool.ClaimsPerConnection && !_claims.ContainsKey(claim.Id)) _claims.Remove(_claims.Keys.First());
                _claims[claim.Id] = claim.Sha256;
                break;
            case Proof proof when _proving.Remove(proof.Id, out var token):
                _spool?.Tell(new Spool.SpoolRequests.Proved(token, proof.Sha256));
                break;
            // A frame of a transfer whose offer still waits keeps its place behind it (a Cancel must not overtake it).
            case TransferFrame transfer when _paced.Any(p => p.Frame is Offer o && o.Id == transfer.Id):
                Pace(frame);
                break;
            case TransferFrame transfer:
                Route(transfer);
                break;
            default:
                Close(WireCode.ProtocolViolation, frame is Ping
                    ? "a client may send a Ping only after the Welcome"
                    : $"a client may not send {frame.Type} frames");
                break;
        }
    }

    private void OnOffer(Offer offer)
    {
        switch (offer)
        {
            case var _ when _endpoint.Owns(offer.Id) || _relays.Owns(offer.Id) || _spoolPending.Contains(offer.Id):
                // The id names a transfer already on this connection (either direction): refused, that one untouched.
                _connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, "transfer id already in use on this connection; offer again")));
                break;
            case var _ when Encoding.UTF8.GetByteCount(offer.File) > ProtocolLimits.MaxFileNameBytes:
                _connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, $"the file name is longer than {ProtocolLimits.MaxFileNameBytes} bytes")));
                break;
            case var _ when offer.To.Length == 0 || PeerNames.Comparer.Equals(offer.To, _settings.Name):
                // For the server itself. The sender is who this connection authenticated, whatever the frame says.
                _ = _endpoint.Offer(offer with { From = _name, SenderId = _identity, To = _settings.Name }, _connection,
                    _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead, origin: "");
                break;
            case var _ when offer.To.Contains(',') || RoomNames.IsRoom(offer.To.Trim()):
                // Several people, or a room's members: the server keeps the file once and offers it to each.
                var names = offer.To.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (names.FirstOrDefault(n => (RoomNames.IsRoom(n) ? RoomNames.Validate(n) : PeerNames.Validate(n)) is not null) is { } bad)
                    _connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id,
                        $"'{bad}' is not a name: {(RoomNames.IsRoom(bad) ? RoomNames.Validate(bad) : PeerNames.Validate(bad))}")));
                else if (_spool is null)
                    _connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, "this server keeps no files for several people at once (spool.enabled is off, or it is a cluster); send to each")));
                else KeepForRecipients(offer with { From = _name, SenderId = _identity }, names, _claims.Remove(offer.Id, out var claimed) ? claimed : null);
                break;
            case var _ when PeerNames.Validate(offer.To) is not null:
                _connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, $"no one named '{offer.To}' is online")));
                break;
            default:
                _relays.BeginOffer(offer, _clock.Elapsed);
                break;
        }
    }

    /// <summary>An offer for several people or for someone offline: the spool decides whether it keeps the file (this
    /// id stays taken meanwhile); if so, this session receives it into the spool.</summary>
    private void KeepForRecipients(Offer offer, IReadOnlyList<string> names, byte[]? claimed = null)
    {
        _spoolPending.Add(offer.Id);
        _spool!.Tell(new Spool.SpoolRequests.Upload(offer, _identityHex, names, claimed));
    }

    private void Route(TransferFrame transfer)
    {
        if (_endpoint.Route(transfer) || _relays.OnClientFrame(transfer, _clock.Elapsed)) return;
        (transfer as Chunk)?.Release();
        _log.Debug("{0}: dropping {1} for unknown or finished transfer {2}", _name, transfer.Type, TransferIds.Format(transfer.Id));
    }

    // ---------------------------------------------------------------- paced requests

    /// <summary>True while requests wait for their rate (or a line for its fan-out allowance): reads are held.</summary>
    private bool Waiting => _paced.Count > 0 || _askingDeferred || _roomChange is not null;

    /// <summary>A rate-limited request (a line, a who, an offer) joins the backlog, in order, and so does a frame of an
    /// offer that waits there; one is refused only when the backlog is full, which a client that keeps to the rates of
    /// its Welcome never sees.</summary>
    private void Pace(Frame frame)
    {
        if (_paced.Count >= _settings.Limits.Backlog)
        {
            var reason = $"more than {_settings.Limits.Backlog} requests were waiting for their rate ({_settings.Limits.ChatPerSecond} lines, " +
                         $"{_settings.Limits.WhoPerSecond} who and {_settings.Limits.OffersPerSecond} offers per second)";
            // A line and an offer are answered by their own refusal; a who request by the Error (at most one a second).
            switch (frame)
            {
                case Protocol.Say say:
                    _connection.Tell(new ConnectionMessages.Send(new SayRefused(say.Id, WireCode.RateLimited, $"not sent: {reason}; slow down")));
                    break;
                case Offer offer:
                    _connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, $"{ProtocolLimits.OfferRateLimitedReason}: {reason}; slow down")));
                    break;
                case Chunk chunk:
                    chunk.Release();
                    break;
            }
            Excess(reason, tell: frame is WhoRequest);
            return;
        }
        _paced.Enqueue(new Paced(frame));
        Pump();
    }

    /// <summary>Passes on the requests at the head of the backlog whose rate allows them, one line at a time (the next
    /// waits for the registry's answer to the last), and lets the connection read again once none waits.</summary>
    private void Pump()
    {
        while (_paced.TryPeek(out var next))
        {
            if (_roomChange is not null) break;
            // A line waits for the answer to the one before it; so does a history request, so that it shows that line.
            if (next.Frame is Protocol.Say or HistoryRequest && _asking is not null) break;
            var now = _clock.Elapsed;
            var bucket = next.Frame switch
            {
                Protocol.Say => _chatRate,
                WhoRequest => _whoRate,
                Offer => _offerRate,
                JoinRoom or LeaveRoom or RoomsRequest or MembersRequest or SetTopic or Unregister or GetFile => _roomsRate,
                HistoryRequest => _historyRate,
                _ => null,
            };
            if (bucket is not null && !next.Charged)
            {
                var wait = bucket.WaitFor(now);
                if (wait > TimeSpan.Zero)
                {
                    Timers.StartSingleTimer(nameof(PaceOver), PaceOver.Instance, wait);
                    return;
                }
                bucket.TryTake(now);
                next.Charged = true;
            }
            _paced.Dequeue();
            switch (next.Frame)
            {
                case Protocol.Say say:
                    OnSay(say);
                    break;
                case WhoRequest:
                    _registry.Tell(SessionMessages.Who.Instance);
                    break;
                case Offer offer:
                    OnOffer(offer);
                    break;
                case TransferFrame transfer:
                    Route(transfer);
                    break;
                default:
                    OnRoomRequest(next.Frame);
                    break;
            }
        }
        if (!Waiting) ReleaseReads();
    }

    private void ReleaseReads()
    {
        for (; _heldReads > 0; _heldReads--) _connection.Tell(ConnectionMessages.ReadMore.Instance);
    }

    private void OnSay(Protocol.Say say)
    {
        var problem = ChatText.Validate(say.Text, _settings.Chat.MaxMessageBytes);
        if (problem is not null)
        {
            _connection.Tell(new ConnectionMessages.Send(new SayRefused(say.Id, problem.Value.Code, problem.Value.Reason)));
            return;
        }
        var to = say.To.Trim();
        if (RoomNames.IsRoom(to) && RoomNames.Validate(to) is { } badRoom)
        {
            _connection.Tell(new ConnectionMessages.Send(new SayRefused(say.Id, WireCode.InvalidName, badRoom)));
            return;
        }
        if (to.Length > 0 && !RoomNames.IsRoom(to) && PeerNames.Validate(to) is not null)
        {
            _connection.Tell(new ConnectionMessages.Send(new SayRefused(say.Id, WireCode.UnknownPeer, $"no one named '{to}' is online")));
            return;
        }
        Ask(say with { To = to });
    }

    /// <summary>Asks the room (a line to "#room") or the registry (anything else) to store and pass the line on; its
    /// answer (or the confirm timeout) answers the client.</summary>
    private void Ask(Protocol.Say say)
    {
        _asking = say;
        _asked++;
        Send(say);
        Timers.StartSingleTimer(nameof(ConfirmTimedOut), new ConfirmTimedOut(say.Id), _settings.Chat.ConfirmTimeout);
        Timers.StartSingleTimer(nameof(AskAgain), new AskAgain(say.Id), AskAgainAfter);
    }

    private void Send(Protocol.Say say)
    {
        var origin = string.Concat(_origin, ".", _asked.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (RoomNames.IsRoom(say.To))
            ToRoom(say.To, new RoomMessages.Say(say.Id, say.To, _identityHex, _name, say.Text, origin));
        else
            _registry.Tell(new SessionMessages.Say(say.Id, say.To, say.Text, origin));
    }

    private void ToRoom(string room, object message) => _entities.Rooms.Tell(new EntityEnvelope(RoomNames.EntityId(room), message));

    private void ToAccount(object message) => _entities.Accounts.Tell(new EntityEnvelope(AccountMessages.EntityId(_identityHex), message));

    // ---------------------------------------------------------------- rooms, history, names

    /// <summary>Budget for a list the server sends this client: what fits its frame limit (and ours), less room for the
    /// frame's other fields.</summary>
    private int ListBudget => Math.Min(_peerMaxFrame, _settings.MaxFrameSize) - 512;

    private void OnRoomRequest(Frame frame)
    {
        switch (frame)
        {
            case RoomsRequest:
                _entities.RoomDirectory.Tell(new RoomMessages.List(_connection, ListBudget));
                return;
            case Unregister:
                _entities.Names.Tell(new NameMessages.Release(_name, _identityHex));
                return;
            case GetFile get:
                if (_spool is null) _connection.Tell(new ConnectionMessages.Send(new ErrorFrame(WireCode.NoSuchFile, "this server keeps no files")));
                else _spool.Tell(new Spool.SpoolRequests.Get(get.FileId.Trim(), _identityHex, _name));
                return;
            case HistoryRequest { Target.Length: 0 } lobby:
                ToRoom("", new RoomMessages.History("", _identityHex, lobby.Before, Math.Clamp(lobby.Count, 1, _settings.History.MaxPage), _connection));
                return;
        }
        var room = frame switch
        {
            JoinRoom j => j.Room,
            LeaveRoom l => l.Room,
            MembersRequest m => m.Room,
            SetTopic t => t.Room,
            HistoryRequest h => h.Target,
            _ => throw new InvalidOperationException($"not a room request: {frame.Type}"),
        };
        room = room.Trim();
        if (RoomNames.Validate(room) is { } problem)
        {
            _connection.Tell(new ConnectionMessages.Send(new RoomRefused(room, WireCode.InvalidName, problem)));
            return;
        }
        switch (frame)
        {
            case JoinRoom or LeaveRoom:
                _roomChange = room;
                Timers.StartSingleTimer(nameof(RoomChangeTimedOut), RoomChangeTimedOut.Instance, _settings.Chat.ConfirmTimeout);
                break;
        }
        switch (frame)
        {
            case JoinRoom:
                ToAccount(new AccountMessages.JoinRoom(room, _name, Self, _connection));
                break;
            case LeaveRoom:
                ToAccount(new AccountMessages.LeaveRoom(room, _name, Self, _connection));
                break;
            case MembersRequest:
                ToRoom(room, new RoomMessages.Members(room, _connection, ListBudget));
                break;
            case SetTopic topic:
                if (ChatText.Validate(topic.Topic, _settings.Rooms.TopicMaxBytes, allowEmpty: true) is { } bad)
                {
                    _connection.Tell(new ConnectionMessages.Send(new RoomRefused(room, bad.Code, $"topic not set: {bad.Reason}")));
                    break;
                }
                ToRoom(room, new RoomMessages.SetTopic(room, _identityHex, _name, topic.Topic, _connection));
                break;
            case HistoryRequest history:
                ToRoom(room, new RoomMessages.History(room, _identityHex, history.Before, Math.Clamp(history.Count, 1, _settings.History.MaxPage), _connection));
                break;
        }
    }

    private void RoomChangeOver()
    {
        if (_roomChange is null) return;
        _roomChange = null;
        Timers.Cancel(nameof(RoomChangeTimedOut));
        Pump();
    }

    /// <summary>A stretch of history for this client: sent now, or after the one being sent.</summary>
    private void Replay(HistoryReplayActor.Request request, bool direct)
    {
        _replays.Enqueue((request, direct));
        if (_replaying is null) NextReplay();
    }

    private void NextReplay()
    {
        if (!_replays.TryDequeue(out var next)) return;
        _replayingDirect = next.Direct;
        _replayingTo = next.Request.To;
        _replaying = Context.ActorOf(HistoryReplayActor.Props(_connection, next.Request));
        Context.Watch(_replaying);
    }

    /// <summary>The replay child stopped (done, or failed: its Finished said which). The account hears of direct
    /// messages that were sent; the next stretch starts.</summary>
    private void ReplayEnded()
    {
        if (_replayingDirect) ToAccount(new AccountMessages.Replayed(_replayingTo));
        _replaying = null;
        NextReplay();
    }

    /// <summary>The line being asked about is answered: the client hears it, and the next request may go.</summary>
    private void Answered(uint id, Frame answer)
    {
        if (_asking?.Id != id) return;
        _asking = null;
        _askingDeferred = false;
        Timers.Cancel(nameof(ConfirmTimedOut));
        Timers.Cancel(nameof(AskAgain));
        _connection.Tell(new ConnectionMessages.Send(answer));
        Pump();
    }

    /// <summary>A request over the client's rate limit was refused. The client hears of it at most once a second; once
    /// it has used up its tolerance (limits.excess-tolerance refusals, refilling at one per second) it is disconnected.</summary>
    private void Excess(string reason, bool tell = true)
    {
        var now = _clock.Elapsed;
        if (!_tolerance.TryTake(now))
        {
            // Its address waits before it is heard again: rejoining must not buy a fresh allowance.
            Context.Parent.Tell(new ListenerMessages.Misbehaved(_remote, ListenerMessages.Misbehaviour.RateLimited));
            Close(WireCode.RateLimited, $"disconnected for sending too fast: {reason}");
            return;
        }
        if (!tell || now - _lastRateError < TimeSpan.FromSeconds(1)) return;
        _lastRateError = now;
        _connection.Tell(new ConnectionMessages.Send(new ErrorFrame(WireCode.RateLimited, $"{reason}; slow down")));
    }

    private void Refuse(WireCode code, string reason)
    {
        _log.Info("refusing {0}: {1}", _remote, reason);
        // Before the Welcome the connection says goodbye with a Refused frame.
        Close(code, reason);
    }

    private void Close(WireCode code, string reason)
    {
        _connection.Tell(new ConnectionMessages.Close(code, reason));
        // Frames kept while joining are moot now (and would become dead letters when this actor stops).
        Stash.ClearStash();
        Become(Closing);
    }
}
