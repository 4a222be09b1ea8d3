using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer;
using ErrorFrame = AkkaTcpTransfer.Protocol.Error;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;

namespace AkkaTcpTransfer.Client;

/// <summary>A client's side of one connection to the server, its session, as the server's
/// <see cref="Server.PeerActor"/> is the server's side: owns the <see cref="ConnectionActor"/>, pins a server key
/// trusted on first use, runs the client half of the handshake, then turns the server's frames into events and the
/// node's commands into frames: chat lines leave at the pace the server announced (<see cref="ChatOutbox"/>), who
/// requests too, and transfers with anyone are its children (<see cref="TransferEndpoint"/>). It lives as long as its
/// connection, plus the moment its transfers need to wind down; the root (<see cref="ClientActor"/>) decides what
/// comes next (another server, a reconnect, the end of the node).</summary>
/// <remarks>Supervision: every child (the connection, transfer actors) is stopped on failure, never restarted. A stopped
/// connection is a lost connection (it says Closed first); a stopped transfer actor fails its own transfer at both
/// ends.</remarks>
internal sealed class ClientSessionActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    private sealed class HandshakeTimedOut
    {
        public static readonly HandshakeTimedOut Instance = new();
    }

    /// <summary>The chat rate allows the next queued line.</summary>
    private sealed class ChatPaceOver
    {
        public static readonly ChatPaceOver Instance = new();
    }

    /// <summary>Time to say how many lines still wait (published at most this often while they drain).</summary>
    private sealed class ChatQueueReport
    {
        public static readonly ChatQueueReport Instance = new();
    }

    /// <summary>The who rate allows the who request that was asked for.</summary>
    private sealed class WhoPaceOver
    {
        public static readonly WhoPaceOver Instance = new();
    }

    /// <summary>The room or history rate allows the next queued request.</summary>
    private sealed class RequestPaceOver
    {
        public static readonly RequestPaceOver Instance = new();
    }

    /// <summary>Room and history requests that may wait for their rate at most: far below the server's backlog.</summary>
    private const int MaxQueuedRequests = 100;

    private const string NotConnected = "not connected to the server (reconnecting)";

    private static readonly TimeSpan QueueReportInterval = TimeSpan.FromMilliseconds(250);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly ClientActor.ServerAddress _server;
    private readonly byte[] _resumeKey;
    private readonly IActorRef _transfers;
    private readonly string _origin;
    private readonly IActorRef _connection;
    private readonly TransferEndpoint _endpoint;
    private readonly ChatOutbox _outbox;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly List<IActorRef> _chatDrainWaiters = [];
    private TlsSession? _tls;
    private int _reportedQueue;
    /// <summary>The server's who rate, from its Welcome; a who asked for beyond it waits (several become one).</summary>
    private Limits.TokenBucket? _whoRate;
    private bool _whoWanted;
    /// <summary>The server's rates for room requests and history requests, from its Welcome.</summary>
    private Limits.TokenBucket? _roomsRate;
    private Limits.TokenBucket? _historyRate;
    /// <summary>Room and history requests waiting for their rate, in order.</summary>
    private readonly Queue<Frame> _requests = new();
    /// <summary>Per conversation ("" the server-wide room, "#room"), the oldest line seen: where the next history page
    /// starts.</summary>
    private readonly Dictionary<string, long> _oldest = new(StringComparer.Ordinal);
    /// <summary>This session has told the root it is over (or was told to leave): it answers commands as offline.</summary>
    private bool _over;
    private bool _connectionClosed;
    private bool _connectionReleased;
    private bool _connectionStopped;
    /// <summary>The root forwards nothing more (<see cref="ClientMessages.Release"/>, <see cref="ClientMessages.Leave"/>).</summary>
    private bool _released;

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    /// <param name="resumeKey">This client's identity to the server, presented in the Hello (empty: none yet).</param>
    /// <param name="origin">Where the identities of senders come from (the server as configured), so that partial
    /// files of different servers never mix.</param>
    public static Props Props(NodeSettings settings, ClientActor.ServerAddress server, byte[] resumeKey, IActorRef transfers,
        IActorRef partials, string origin) =>
        Akka.Actor.Props.Create(() => new ClientSessionActor(settings, server, resumeKey, transfers, partials, origin));

    public ClientSessionActor(NodeSettings settings, ClientActor.ServerAddress server, byte[] resumeKey, IActorRef transfers,
        IActorRef partials, string origin)
    {
        _settings = settings;
        _server = server;
        _resumeKey = resumeKey;
        _transfers = transfers;
        _origin = origin;
        _outbox = new ChatOutbox(settings.Chat.SendQueue);
        _endpoint = new TransferEndpoint(Context, settings, transfers, partials, settings.Name);
        _connection = Context.ActorOf(ConnectionActor.Outgoing(server.Endpoint, settings, server.Security), "connection");
        Context.Watch(_connection);
        Become(Connecting);
    }

    /// <summary>A connection or a transfer that fails is over: stop it, never restart it into a half state.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    /// <summary>Stopped before it was over (it failed, or the node is ending): every chat line still waiting gets its
    /// answer, as at any other end of a session. Its children stop with it: the connection closes, the transfer actors
    /// fail their transfers.</summary>
    protected override void PostStop()
    {
        if (!_over) ChatOver("not sent: the session with the server ended", "not confirmed: the session with the server ended before it answered");
    }

    // ---------------------------------------------------------------- states

    private void Connecting()
    {
        Receive<ConnectionMessages.Established>(e =>
        {
            _tls = e.Tls;
            PinIfNew(e.Tls);
            Send(new Hello(ProtocolLimits.Version, _settings.MaxFrameSize, _settings.Name, _settings.Token, _resumeKey));
            Timers.StartSingleTimer(nameof(HandshakeTimedOut), HandshakeTimedOut.Instance, _settings.Client.HandshakeTimeout);
            Become(Handshaking);
        });
        Receive<ConnectionMessages.ConnectFailed>(f =>
        {
            // The connection stops by itself after this.
            _connectionClosed = true;
            Over(new ClientMessages.CannotConnect(f));
        });
        Common();
    }

    private void Handshaking()
    {
        Receive<ConnectionMessages.FrameReceived>(f => f.Frame is Welcome, f => OnWelcome((Welcome)f.Frame));
        // The root decides whether a refusal ends the client; the server closes the connection next either way.
        Receive<ConnectionMessages.FrameReceived>(f => f.Frame is Refused, f =>
            Context.Parent.Tell(new ClientMessages.Refused(((Refused)f.Frame).Code, ((Refused)f.Frame).Reason)));
        Receive<ConnectionMessages.FrameReceived>(f =>
            _connection.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, $"expected Welcome, got {f.Frame.Type}")));
        Receive<HandshakeTimedOut>(_ => _connection.Tell(new ConnectionMessages.Close(WireCode.HandshakeTimeout,
            $"no answer to the handshake within {_settings.Client.HandshakeTimeout.TotalSeconds:0.###} s")));
        Receive<ConnectionMessages.Closed>(c => Lost(c.Reason, reconnect: true));
        Common();
    }

    /// <summary>Welcomed, waiting for the root to be online: the server's frames (and the read barrier after them: the
    /// connection reads no more until they are handled, so this stash is bounded) wait, so that none becomes an event
    /// before <see cref="Events.Connected"/>.</summary>
    private void Welcoming()
    {
        Receive<ClientMessages.Proceed>(_ =>
        {
            Become(Online);
            Stash.UnstashAll();
        });
        Receive<ConnectionMessages.FrameReceived>(_ => Stash.Stash());
        Receive<ConnectionMessages.Delivered>(_ => Stash.Stash());
        Receive<ConnectionMessages.Closed>(c => Lost(c.Reason, reconnect: c.PeerCode != WireCode.Replaced));
        Common();
    }

    private void Online()
    {
        Receive<ConnectionMessages.FrameReceived>(f => OnFrame(f.Frame));
        // Replaced: a newer connection of this same identity took over, so another client of ours is running (from a
        // copy of this state folder, say). Reconnecting would only take the name back and start a tug of war.
        Receive<ConnectionMessages.Closed>(c => Lost(c.Reason, reconnect: c.PeerCode != WireCode.Replaced));
        Receive<ClientMessages.Say>(s => Say(s.Line));
        Receive<ChatPaceOver>(_ => FlushChat());
        Receive<NodeCommands.Who>(_ =>
        {
            _whoWanted = true;
            FlushWho();
        });
        Receive<WhoPaceOver>(_ => FlushWho());
        Receive<NodeCommands.IServerRequest>(OnRequest);
        Receive<RequestPaceOver>(_ => FlushRequests());
        Receive<TransferMessages.StartSend>(spec => _endpoint.StartSend(spec, _connection, senderId: []));
        Receive<ConnectionMessages.SendFailed>(f => _log.Warning("a {0} frame could not be sent: {1}", f.Frame.Type, f.Reason));
        Receive<ClientMessages.Leave>(l =>
        {
            ChatOver("not sent: the client stopped first", "not confirmed: the client stopped before the server answered");
            _endpoint.ConnectionLost("this client is stopping");
            _connection.Tell(new ConnectionMessages.Close(WireCode.Normal, l.Reason));
            _over = _released = true;
            Become(Closing);
        });
        Common();
    }

    /// <summary>Over: the transfers are winding down (they were told ConnectionLost), and the connection is let go once
    /// none of them can still write to it, so that nothing they sent it is left to dead letters. Commands the root
    /// forwarded before it heard are answered as offline. Stops once the root has released it and the connection has
    /// stopped.</summary>
    private void Closing()
    {
        Receive<ConnectionMessages.Closed>(_ =>
        {
            _connectionClosed = true;
            MaybeReleaseConnection();
        });
        Receive<ClientMessages.Release>(_ =>
        {
            _released = true;
            MaybeStop();
        });
        // The root asked this session to leave before it heard that it was over: nothing more comes from it either.
        Receive<ClientMessages.Leave>(_ =>
        {
            _released = true;
            MaybeStop();
        });
        Receive<ClientMessages.Proceed>(_ => { });
        Receive<ClientMessages.Say>(s => NotSent(s.Line, NotConnected));
        Receive<NodeCommands.Who>(_ => Context.System.EventStream.Publish(new ErrorOccurred(NotConnected)));
        Receive<NodeCommands.IServerRequest>(_ => Context.System.EventStream.Publish(new ErrorOccurred(NotConnected)));
        Receive<TransferMessages.StartSend>(spec => _transfers.Tell(new TransferMessages.SendRefused(spec.Id, "not connected to the server")));
        Receive<ConnectionMessages.SendFailed>(_ => { });
        Receive<ChatPaceOver>(_ => { });
        Receive<WhoPaceOver>(_ => { });
        Receive<RequestPaceOver>(_ => { });
        Common();
    }

    private void Common()
    {
        Receive<Terminated>(t => t.ActorRef.Equals(_connection), _ =>
        {
            _connectionStopped = true;
            // A connection always says Closed (or ConnectFailed) before it stops; should one not, it is lost all the same.
            if (!_over) Lost("the connection stopped", reconnect: true);
            MaybeStop();
        });
        Receive<Terminated>(t =>
        {
            _endpoint.Terminated(t.ActorRef);
            MaybeReleaseConnection();
        });
        Receive<TransferMessages.Finished>(f =>
        {
            _endpoint.Finished(f);
            MaybeReleaseConnection();
        });
        Receive<NodeLifecycle.DrainChat>(_ =>
        {
            if (_outbox.Unconfirmed == 0) Sender.Tell(NodeLifecycle.ChatDrained.Instance);
            else _chatDrainWaiters.Add(Sender);
        });
        Receive<NodeLifecycle.ListChat>(_ => Sender.Tell(new NodeLifecycle.ChatOpen(_outbox.Unconfirmed)));
        Receive<ChatQueueReport>(_ => ReportQueue());
        Receive<ConnectionMessages.FrameReceived>(_ => { });
        Receive<ConnectionMessages.Delivered>(_ => Sender.Tell(ConnectionMessages.ReadMore.Instance));
        Receive<HandshakeTimedOut>(_ => { });
    }

    // ---------------------------------------------------------------- handshake

    /// <summary>A key trusted on first use, or given with --fingerprint, is pinned for next time.</summary>
    private void PinIfNew(TlsSession? tls)
    {
        if (tls is not { PeerFingerprint: { } fingerprint, Trust: TrustBasis.FirstUse or TrustBasis.GivenFingerprint } || _server.Security is null) return;
        var trust = _server.Security.Trust;
        if (trust.Known.Find(trust.Server) is not null) return;
        if (trust.Known.Add(trust.Server, fingerprint))
            Context.System.EventStream.Publish(new ServerPinned(trust.Server, fingerprint, trust.Known.File));
        else
            _log.Warning("cannot write {0}: the server's key is not pinned for next time", trust.Known.File);
    }

    private void OnWelcome(Welcome welcome)
    {
        Timers.Cancel(nameof(HandshakeTimedOut));
        if (welcome.Version != ProtocolLimits.Version)
        {
            _connection.Tell(new ConnectionMessages.Close(WireCode.UnsupportedVersion, $"server speaks protocol version {welcome.Version}"));
            return;
        }
        // Keep within what the server allows: chat lines and who requests leave at its pace (offers: the root tells the
        // node's transfer table).
        _outbox.Begin(welcome.Limits, _clock.Elapsed);
        _whoRate = new Limits.TokenBucket(welcome.Limits.WhoPerSecond, welcome.Limits.WhoBurst, _clock.Elapsed);
        _whoWanted = false;
        _roomsRate = new Limits.TokenBucket(welcome.Limits.RoomsPerSecond, welcome.Limits.RoomsBurst, _clock.Elapsed);
        _historyRate = new Limits.TokenBucket(welcome.Limits.HistoryPerSecond, welcome.Limits.HistoryBurst, _clock.Elapsed);
        _connection.Tell(new ConnectionMessages.PeerLimits(welcome.MaxFrameLength));
        _connection.Tell(ConnectionMessages.HandshakeDone.Instance);
        Context.Parent.Tell(new ClientMessages.Welcomed(welcome, _tls));
        Become(Welcoming);
    }

    // ---------------------------------------------------------------- online

    private void OnFrame(Frame frame)
    {
        var events = Context.System.EventStream;
        switch (frame)
        {
            case ChatFrame c:
                events.Publish(new ChatReceived(c.From, c.To.Length == 0 ? null : c.To, c.Text, DateTimeOffset.FromUnixTimeMilliseconds(c.AtUnixMs)));
                break;
            case Protocol.PeerJoined j:
                events.Publish(new Events.PeerJoined(j.Name));
                break;
            case Protocol.PeerLeft l:
                events.Publish(new Events.PeerLeft(l.Name));
                break;
            case WhoReply w:
                events.Publish(new WhoListed(w.Names));
                break;
            case ErrorFrame e:
                events.Publish(new ErrorOccurred(e.Message));
                break;
            case SayAck ack:
                if (_outbox.Answered(ack.Id) is { } sent)
                {
                    events.Publish(new ChatSent(sent.Number, sent.To, sent.Text, DateTimeOffset.FromUnixTimeMilliseconds(ack.AtUnixMs), ack.Held));
                    ChatAnswered();
                }
                break;
            case Protocol.RoomJoined j:
                events.Publish(new JoinedRoom(j.Room, j.Topic, j.Members, j.Rejoined));
                break;
            case Protocol.RoomLeft l:
                _oldest.Remove(CursorKey(l.Room));
                events.Publish(new LeftRoom(l.Room, l.Reason));
                break;
            case Protocol.RoomRefused r:
                events.Publish(new RoomRequestRefused(r.Room, r.Reason));
                break;
            case Protocol.RoomList l:
                events.Publish(new RoomsListed([.. l.Rooms.Select(r => new RoomSummary(r.Room, r.Members, r.Topic))]));
                break;
            case Protocol.MemberList l:
                events.Publish(new MembersListed(l.Room, [.. l.Members.Select(m => new MemberSummary(m.Name, m.Online))]));
                break;
            case Protocol.RoomTopic t:
                events.Publish(new TopicChanged(t.Room, t.By, t.Topic, DateTimeOffset.FromUnixTimeMilliseconds(t.AtUnixMs)));
                break;
            case Protocol.MemberJoined j:
                events.Publish(new MemberJoinedRoom(j.Room, j.Name));
                break;
            case Protocol.MemberLeft l:
                events.Publish(new MemberLeftRoom(l.Room, l.Name));
                break;
            case Protocol.History h:
                events.Publish(new HistoryLine(h.From, h.To.Length == 0 ? null : h.To, h.Text, DateTimeOffset.FromUnixTimeMilliseconds(h.AtUnixMs)));
                break;
            case Protocol.HistoryEnd e:
                // The next page of this conversation starts before the oldest line it has shown so far.
                var cursor = CursorKey(e.Target);
                if (!_oldest.TryGetValue(cursor, out var seen) || e.Oldest < seen) _oldest[cursor] = e.Oldest;
                if (!e.More) _oldest[cursor] = 1;
                events.Publish(new HistoryEnded(e.Target.Length == 0 ? null : e.Target, e.More));
                break;
            case Protocol.NameStatus n:
                events.Publish(new NameRegistration(n.Name, n.Registered, n.Reason));
                break;
            case Held h:
                events.Publish(new TransferHeld(TransferIds.Format(h.Id), h.FileId, h.Recipients));
                break;
            case Delivery d:
                events.Publish(new DeliveryChanged(d.FileId, d.File, d.To, (DeliveryStatus)((int)d.State - 1), d.Bytes, d.Size, d.Reason));
                break;
            case SayRefused refused:
                if (_outbox.Answered(refused.Id) is { } line)
                {
                    NotSent(line, refused.Reason);
                    ChatAnswered();
                }
                break;
            case Offer offer:
                // Identities are the server's, whichever of its nodes vouches for them now: partial files are tied to
                // the server as configured (its first address), so a transfer resumes through another node.
                _ = _endpoint.Offer(offer, _connection, _settings.MaxFrameSize - ProtocolLimits.ChunkOverhead, _origin);
                break;
            case TransferFrame transfer:
                if (!_endpoint.Route(transfer)) _log.Debug("dropping {0} for unknown or finished transfer {1}", transfer.Type, TransferIds.Format(transfer.Id));
                break;
            default:
                _connection.Tell(new ConnectionMessages.Close(WireCode.ProtocolViolation, $"a server may not send {frame.Type} frames here"));
                break;
        }
    }

    // ---------------------------------------------------------------- chat out

    /// <summary>A line to send: checked and queued; it leaves when the server's chat rate allows, and is reported once,
    /// when the server has answered (<see cref="ChatSent"/>) or when it cannot go (<see cref="ChatNotSent"/>).</summary>
    private void Say(ChatOutbox.Line line)
    {
        if (ChatText.Validate(line.Text, _settings.Chat.MaxMessageBytes) is { } problem)
        {
            NotSent(line, problem.Reason);
            return;
        }
        if (!_outbox.TryEnqueue(line))
        {
            NotSent(line, $"not queued: {_settings.Chat.SendQueue} lines are already waiting to be sent (chat.send-queue)");
            return;
        }
        FlushChat();
    }

    /// <summary>Sends what the rate allows now and sets a timer for the rest.</summary>
    private void FlushChat()
    {
        var now = _clock.Elapsed;
        foreach (var line in _outbox.TakeReady(now)) Send(new Protocol.Say(line.WireId, line.To ?? "", line.Text));
        if (_outbox.NextIn(now) is { } wait) Timers.StartSingleTimer(nameof(ChatPaceOver), ChatPaceOver.Instance, wait);
        ReportQueue();
    }

    /// <summary>A room or history request: it leaves at the pace the server announced for its kind, in order.</summary>
    private void OnRequest(NodeCommands.IServerRequest request)
    {
        Frame frame = request switch
        {
            NodeCommands.JoinRoom j => new JoinRoom(j.Room.Trim()),
            NodeCommands.LeaveRoom l => new LeaveRoom(l.Room.Trim()),
            NodeCommands.ListRooms => RoomsRequest.Instance,
            NodeCommands.ListMembers m => new MembersRequest(m.Room.Trim()),
            NodeCommands.SetTopic t => new SetTopic(t.Room.Trim(), t.Topic),
            NodeCommands.Unregister => Unregister.Instance,
            NodeCommands.GetFile g => new GetFile(g.FileId.Trim()),
            NodeCommands.ShowHistory h => History(h),
            _ => throw new InvalidOperationException($"no frame for {request.GetType().Name}"),
        };
        if (frame is HistoryRequest { Before: 1 } done)
        {
            // Everything of it has been shown: nothing older is kept.
            Context.System.EventStream.Publish(new HistoryEnded(done.Target.Length == 0 ? null : done.Target, false));
            return;
        }
        if (_requests.Count >= MaxQueuedRequests)
        {
            Context.System.EventStream.Publish(new ErrorOccurred($"not sent: {MaxQueuedRequests} requests already wait for the server's pace"));
            return;
        }
        _requests.Enqueue(frame);
        FlushRequests();
    }

    private HistoryRequest History(NodeCommands.ShowHistory show)
    {
        var target = show.Target?.Trim() ?? "";
        var before = _oldest.TryGetValue(CursorKey(target), out var oldest) ? oldest : 0;
        return new HistoryRequest(target, before, Math.Clamp(show.Count, 1, ushort.MaxValue));
    }

    /// <summary>A conversation's key for its history cursor: rooms compare as the server compares them ("#Rust" and
    /// "#rust" are one room), so a page asked for in any spelling continues where the last one ended.</summary>
    private static string CursorKey(string target) =>
        RoomNames.IsRoom(target) && RoomNames.Validate(target) is null ? RoomNames.Prefix + RoomNames.Key(target) : target;

    private void FlushRequests()
    {
        while (_requests.TryPeek(out var next))
        {
            var bucket = next is HistoryRequest ? _historyRate : _roomsRate;
            if (bucket is null) return;
            var wait = bucket.WaitFor(_clock.Elapsed);
            if (wait > TimeSpan.Zero)
            {
                if (!Timers.IsTimerActive(nameof(RequestPaceOver))) Timers.StartSingleTimer(nameof(RequestPaceOver), RequestPaceOver.Instance, wait);
                return;
            }
            bucket.TryTake(_clock.Elapsed);
            Send(_requests.Dequeue());
        }
    }

    private void FlushWho()
    {
        if (!_whoWanted || _whoRate is null) return;
        var wait = _whoRate.WaitFor(_clock.Elapsed);
        if (wait > TimeSpan.Zero)
        {
            // Asked again while one waits: still one request (the answer lists everyone either way).
            if (!Timers.IsTimerActive(nameof(WhoPaceOver))) Timers.StartSingleTimer(nameof(WhoPaceOver), WhoPaceOver.Instance, wait);
            return;
        }
        _whoRate.TryTake(_clock.Elapsed);
        _whoWanted = false;
        Send(WhoRequest.Instance);
    }

    /// <summary>Publishes how many lines wait: at once when the queue starts or empties, else at most every
    /// <see cref="QueueReportInterval"/> (a paste draining line by line is not an event per line).</summary>
    private void ReportQueue()
    {
        var waiting = _outbox.Queued;
        if (waiting == _reportedQueue) return;
        if (waiting != 0 && _reportedQueue != 0)
        {
            if (!Timers.IsTimerActive(nameof(ChatQueueReport))) Timers.StartSingleTimer(nameof(ChatQueueReport), ChatQueueReport.Instance, QueueReportInterval);
            return;
        }
        _reportedQueue = waiting;
        Context.System.EventStream.Publish(new ChatQueue(waiting));
        if (waiting != 0) Timers.StartSingleTimer(nameof(ChatQueueReport), ChatQueueReport.Instance, QueueReportInterval);
    }

    private void ChatAnswered()
    {
        if (_outbox.Unconfirmed > 0) return;
        foreach (var waiter in _chatDrainWaiters) waiter.Tell(NodeLifecycle.ChatDrained.Instance);
        _chatDrainWaiters.Clear();
    }

    /// <summary>The session is over: every line the server has not answered is reported as not sent (queued) or not
    /// confirmed (sent: it may or may not have been passed on).</summary>
    private void ChatOver(string queuedReason, string sentReason)
    {
        var (sent, queued) = _outbox.TakeAll();
        foreach (var line in sent) NotSent(line, sentReason);
        foreach (var line in queued) NotSent(line, queuedReason);
        Timers.Cancel(nameof(ChatPaceOver));
        Timers.Cancel(nameof(WhoPaceOver));
        Timers.Cancel(nameof(RequestPaceOver));
        _whoRate = null;
        _whoWanted = false;
        _roomsRate = _historyRate = null;
        if (_requests.Count > 0) Context.System.EventStream.Publish(new ErrorOccurred($"{_requests.Count} room or history requests were not sent: the session ended"));
        _requests.Clear();
        ReportQueue();
        ChatAnswered();
    }

    private static void NotSent(ChatOutbox.Line line, string reason) =>
        Context.System.EventStream.Publish(new ChatNotSent(line.Number, line.To, line.Text, reason));

    private void Send(Frame frame) => _connection.Tell(new ConnectionMessages.Send(frame));

    // ---------------------------------------------------------------- ending

    /// <summary>The connection is gone: every chat line gets its answer, the transfers are told, and the root hears it
    /// (it decides what comes next).</summary>
    private void Lost(string reason, bool reconnect)
    {
        Timers.Cancel(nameof(HandshakeTimedOut));
        ChatOver($"not sent: the connection to the server was lost ({reason})",
            $"not confirmed: the connection to the server was lost before it answered ({reason})");
        _endpoint.ConnectionLost(reason);
        _connectionClosed = true;
        Over(new ClientMessages.Lost(reason, reconnect));
        MaybeReleaseConnection();
    }

    private void Over(object report)
    {
        _over = true;
        Stash.ClearStash();
        Context.Parent.Tell(report);
        Become(Closing);
    }

    private void MaybeReleaseConnection()
    {
        if (!_connectionClosed || _connectionReleased || _connectionStopped || _endpoint.Actors.Any()) return;
        _connectionReleased = true;
        _connection.Tell(ConnectionMessages.Release.Instance);
    }

    private void MaybeStop()
    {
        if (_released && _connectionStopped) Context.Stop(Self);
    }
}
