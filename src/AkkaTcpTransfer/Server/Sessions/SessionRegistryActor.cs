using System.Diagnostics;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Limits;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Server.Accounts;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Federation;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Text;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;
using AkkaTcpTransfer.Server.Lines;

namespace AkkaTcpTransfer.Server.Sessions;

/// <summary>The server's directory of who is online: unique names (by confusable skeleton, so look-alikes count as
/// taken; the server's own name reserved; a name registered to another identity refused, which the name registry
/// decides), presence announcements, and the routing of lines to the server-wide room and of direct messages. A line
/// to the server-wide room is stored by that room's entity first, then encoded once and handed to every recipient's
/// connection directly; it costs its sender one token per recipient from a fan-out bucket, so one client cannot keep
/// the server busy delivering. A direct message goes to its recipient's account (online or not, as long as the name is
/// registered), which stores and delivers it. The server sees every line of the server-wide room and every message
/// addressed to it as a <see cref="Events.ChatReceived"/>; direct messages between clients are not published. It has
/// no children.</summary>
/// <remarks>Federated (a cluster of servers, through a replica its plugin provides: <see cref="FederationMessages"/>), it also
/// holds the clients online on the other nodes (<see cref="Session.Node"/> is that node's registry), so presence, who,
/// direct chat and offers reach them; it asks the replica before letting a client take a name; and it reports its own
/// clients and broadcasts to the replica, which shares them.</remarks>
internal sealed class SessionRegistryActor : ReceiveActor, IWithTimers
{
    /// <param name="Node">Null for a client of this node; else the registry of the node it is connected to (and
    /// <paramref name="Connection"/> is Nobody).</param>
    /// <param name="Claim">Federated, the request id the replica granted this client's name for (0 otherwise).</param>
    /// <param name="Identity">The client's identity digest in hex (its account is "user:IDENTITY").</param>
    /// <param name="Registered">The name is registered to this client.</param>
    private sealed record Session(string Name, string Key, string Shape, IActorRef Peer, IActorRef Connection, byte[] ResumeKey, int MaxFrame,
        TokenBucket? Fanout, IActorRef? Node = null, long Claim = 0, string Identity = "", bool Registered = false);

    /// <summary>A Join waiting for the name registry's answer, then (federated) the cluster directory's.</summary>
    private sealed record PendingClaim(SessionMessages.Join Join, IActorRef Peer, string Key, string Shape, byte[] ResumeKey)
    {
        /// <summary>The client left or the wait timed out: a late grant is given back.</summary>
        public bool Abandoned { get; set; }

        /// <summary>The name registry has answered (yes): waiting for the cluster directory now.</summary>
        public bool Checked { get; set; }

        public bool Registered { get; set; }
    }

    /// <summary>A line to the server-wide room being stored: who said it, and who to answer.</summary>
    private sealed record Storing(uint Id, IActorRef Asker, Session? From, string FromName, string Text, RoomMessages.StoreLine Request);

    private sealed record ClaimTimedOut(long Request);

    private sealed record ForgetClaim(long Request);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly string _serverName;
    private readonly string _serverKey;
    private readonly string _serverShape;
    private readonly int _maxClients;
    /// <summary>The rates every client is told in its Welcome (and held to by its peer actor).</summary>
    private readonly ClientLimits _clientLimits;
    private readonly Dictionary<string, Session> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Session> _byShape = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, Session> _byPeer = [];
    /// <summary>Online clients' names in display order, kept sorted as they come and go: a join costs a binary search
    /// and a move, not a sort of everyone (which made arrivals slow down as the crowd grew).</summary>
    private readonly List<string> _sorted = [];
    private List<string>? _names;
    /// <summary>Federated: the replica that shares this node's clients with the other nodes, and decides names.</summary>
    private IActorRef? _replica;
    private TimeSpan _claimTimeout;
    private readonly Dictionary<long, PendingClaim> _claims = [];
    private long _nextClaim;
    private readonly ServerEntities _entities;
    /// <summary>How long a join waits for the name registry (and the cluster's directory): inside the handshake timeout,
    /// so that the client hears why.</summary>
    private readonly TimeSpan _nameTimeout;
    private readonly Dictionary<uint, Storing> _storing = [];
    /// <summary>The token of each line being stored, by its <see cref="RecentLines"/> key.</summary>
    private readonly Dictionary<string, uint> _storingByKey = new(StringComparer.Ordinal);
    private uint _nextStoring;
    /// <summary>Per connection of a new client, the lines of the server-wide room that come while its scrollback is on its
    /// way: sent after it, less those it already held.</summary>
    private readonly Dictionary<IActorRef, List<(long Seq, long AtMs, ConnectionMessages.SendEncoded Frame)>> _awaitingScrollback = [];
    /// <summary>Per connection, what its scrollback of the server-wide room carried: the lines said before BeforeMs and
    /// stored up to event UpTo. Those are not sent again; every other line is live for it.</summary>
    private readonly Dictionary<IActorRef, (long BeforeMs, long UpTo)> _scrollback = [];

    private sealed record ScrollbackTimedOut(IActorRef Connection);



    /// <summary>Lines of the server-wide room held for one client while its scrollback comes, at most.</summary>
    private const int MaxHeldForScrollback = 1000;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Case-insensitive order; the exact spelling breaks ties, so every online name has one place.</summary>
    private static readonly Comparer<string> DisplayOrder = Comparer<string>.Create((a, b) =>
    {
        var c = StringComparer.OrdinalIgnoreCase.Compare(a, b);
        return c != 0 ? c : StringComparer.Ordinal.Compare(a, b);
    });

    /// <param name="entities">The name registry, rooms and accounts.</param>
    /// <param name="clock">For tests: the time its allowances refill by (a monotonic clock by default).</param>
    public static Props Props(NodeSettings settings, int maxClients, ServerEntities entities, Func<TimeSpan>? clock = null) =>
        Akka.Actor.Props.Create(() => new SessionRegistryActor(settings, maxClients, entities, clock));

    private readonly Func<TimeSpan> _now;

    public SessionRegistryActor(NodeSettings settings, int maxClients, ServerEntities entities, Func<TimeSpan>? clock)
    {
        var stopwatch = Stopwatch.StartNew();
        _now = clock ?? (() => stopwatch.Elapsed);
        _settings = settings;
        _entities = entities;
        _nameTimeout = TimeSpan.FromTicks(Math.Min(settings.Cluster.ClaimTimeout.Ticks, settings.Server.HandshakeTimeout.Ticks * 3 / 4));
        _claimTimeout = _nameTimeout;
        _serverName = settings.Name;
        _serverKey = PeerNames.Key(settings.Name);
        _serverShape = PeerNames.ShapeKey(settings.Name);
        _maxClients = maxClients;
        var limits = settings.Limits;
        _clientLimits = new ClientLimits(limits.ChatPerSecond, limits.ChatBurst, limits.WhoPerSecond, limits.WhoBurst, limits.OffersPerSecond, limits.OffersBurst,
            limits.RoomsPerSecond, limits.RoomsBurst, limits.HistoryPerSecond, limits.HistoryBurst);
        Receive<SessionMessages.Join>(OnJoin);
        Receive<Terminated>(t => Left(t.ActorRef));
        Receive<SessionMessages.Say>(OnSay);
        Receive<SessionMessages.Who>(_ => Sender.Tell(new SessionMessages.WhoResult(NameList.Fit(Names(),
            NamesBudget(_byPeer.TryGetValue(Sender, out var asker) ? asker.MaxFrame : _settings.MaxFrameSize)))));
        Receive<SessionMessages.FindOfferRecipient>(f =>
        {
            var found = Find(f.Offer.To);
            Sender.Tell(new SessionMessages.OfferRecipient(f.Offer, found?.Name ?? f.Offer.To, found?.Peer, found?.MaxFrame ?? 0));
        });
        Receive<SessionMessages.ListOnline>(_ => Sender.Tell(new SessionMessages.FoundMany(0, [.. _byPeer.Values.Where(s => s.Node is null)
            .Select(s => new SessionMessages.FoundName(s.Name, s.Name, s.Identity, s.Peer, s.Connection))])));
        Receive<SessionMessages.FindMany>(f => Sender.Tell(new SessionMessages.FoundMany(f.Token, [.. f.Names.Select(asked =>
            Find(asked) is { Node: null } s
                ? new SessionMessages.FoundName(asked, s.Name, s.Identity, s.Peer, s.Connection)
                : new SessionMessages.FoundName(asked, asked, "", null, null))])));
        Receive<SessionMessages.FindSendRecipient>(f =>
        {
            var found = Find(f.Spec.To);
            // A file the server sends is read on this node: only this node's clients can get it from here.
            Sender.Tell(found is { Node: not null }
                ? new SessionMessages.SendRecipient(f.Spec, found.Name, null, $"{found.Name} is connected to another server node; send from that node")
                : new SessionMessages.SendRecipient(f.Spec, found?.Name ?? f.Spec.To, found?.Peer));
        });
        Receive<SessionMessages.Leave>(_ =>
        {
            Left(Sender);
            // After everything this registry sent that session's connection: it may now let the connection go.
            Sender.Tell(SessionMessages.Left.Instance);
        });
        Receive<NameMessages.UseAnswer>(OnNameAnswer);
        Receive<RoomMessages.ScrollbackSent>(s => ScrollbackDone(s.Connection, s.BeforeMs, s.UpTo));
        // The server-wide room did not answer: its live lines go to the client from now on, none held back longer.
        Receive<ScrollbackTimedOut>(t => ScrollbackDone(t.Connection, 0, 0));
        Receive<RoomMessages.Stored>(s =>
        {
            if (!_storing.Remove(s.Id, out var line)) return;
            _storingByKey.Remove(line.Request.Key);
            if (s.Repeat)
            {
                // Stored and passed on before, for an earlier request of this line whose answer was lost.
                line.Asker.Tell(new LineAnswers.SayDone(line.Id, s.AtMs));
                return;
            }
            DeliverBroadcast(line.FromName, s.AtMs, line.Text, except: line.From, s.Seq);
            _replica?.Tell(new FederationMessages.LocalBroadcast(line.FromName, s.AtMs, line.Text, s.Seq));
            if (line.From is not null) Context.System.EventStream.Publish(new Events.ChatReceived(line.FromName, null, line.Text, DateTimeOffset.FromUnixTimeMilliseconds(s.AtMs)));
            line.Asker.Tell(new LineAnswers.SayDone(line.Id, s.AtMs));
        });
        Receive<RoomMessages.NotStored>(n =>
        {
            if (!_storing.Remove(n.Id, out var line)) return;
            _storingByKey.Remove(line.Request.Key);
            line.Asker.Tell(new LineAnswers.SayFailed(line.Id, n.Code, n.Reason));
        });
        Federated();
    }

    /// <summary>Whoever is online under <paramref name="name"/> or a name that looks like it (either key).</summary>
    private Session? Find(string name)
    {
        if (PeerNames.Validate(name) is not null) return null;
        if (_byKey.TryGetValue(PeerNames.Key(name), out var session)) return session;
        return _byShape.TryGetValue(PeerNames.ShapeKey(name), out session) ? session : null;
    }

    private void OnJoin(SessionMessages.Join join)
    {
        var peer = Sender;
        var key = PeerNames.Key(join.Name);
        var shape = PeerNames.ShapeKey(join.Name);
        if (key == _serverKey || shape == _serverShape)
        {
            peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, $"name '{join.Name}' is taken (it is the server's, or looks like it)"));
            return;
        }
        Session? replacing = null;
        if ((_byKey.TryGetValue(key, out var existing) || _byShape.TryGetValue(shape, out existing)) && existing.Node is null)
        {
            var sameClient = join.ResumeKey.Length > 0 && CryptographicOperations.FixedTimeEquals(join.ResumeKey, existing.ResumeKey)
                && join.Name == existing.Name;
            if (!sameClient)
            {
                peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, TakenReason(join.Name, existing.Name)));
                return;
            }
            // The same client reconnected before the server noticed its old connection die: hand the name over
            // (the cluster's directory already has it under this identity, for this node).
            replacing = existing;
        }
        else if (_byPeer.Count + _claims.Values.Count(c => !c.Abandoned) >= _maxClients)
        {
            peer.Tell(new SessionMessages.JoinRefused(WireCode.ServerFull, $"server full ({_maxClients} clients)"));
            return;
        }
        var resumeKey = join.ResumeKey.Length > 0 ? join.ResumeKey : ClientIdentity.NewKey();
        if (replacing is not null)
        {
            Admit(join, peer, key, shape, resumeKey, replacing, replacing.Claim, replacing.Registered);
            return;
        }
        // Another client of this node asking for the same name right now: the first is asked about first.
        if (_claims.Values.FirstOrDefault(c => !c.Abandoned && (c.Key == key || c.Shape == shape)) is { } pending)
        {
            peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, TakenReason(join.Name, pending.Join.Name)));
            return;
        }
        // Is the name registered to someone else? The name registry decides (and registers a free one to this client).
        var request = ++_nextClaim;
        _claims[request] = new PendingClaim(join, peer, key, shape, resumeKey);
        _entities.Names.Tell(new NameMessages.Use(request, join.Name, IdentityOf(resumeKey)));
        Timers.StartSingleTimer(("claim", request), new ClaimTimedOut(request), _nameTimeout);
    }

    private static string IdentityOf(byte[] resumeKey) => Convert.ToHexStringLower(ClientIdentity.Of(resumeKey));

    private void OnNameAnswer(NameMessages.UseAnswer answer)
    {
        if (!_claims.TryGetValue(answer.Request, out var claim) || claim.Checked) return;
        if (claim.Abandoned || !answer.Allowed)
        {
            _claims.Remove(answer.Request);
            Timers.Cancel(("claim", answer.Request));
            if (!claim.Abandoned) claim.Peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, answer.Reason));
            return;
        }
        claim.Checked = true;
        claim.Registered = answer.Registered;
        if (answer.Reason.Length > 0) _log.Info("{0}: {1}", claim.Join.Name, answer.Reason);
        if (_replica is null)
        {
            _claims.Remove(answer.Request);
            Timers.Cancel(("claim", answer.Request));
            Admit(claim.Join, claim.Peer, claim.Key, claim.Shape, claim.ResumeKey, null, 0, answer.Registered);
            return;
        }
        // Federated: the cluster's directory decides who holds the name online (the timer runs on).
        _replica.Tell(new FederationMessages.ClaimName(answer.Request, claim.Join.Name, ClientIdentity.Of(claim.ResumeKey)));
    }

    private static string TakenReason(string wanted, string holder) =>
        string.Equals(wanted, holder, StringComparison.OrdinalIgnoreCase)
            ? $"name '{holder}' is already taken"
            : $"name '{wanted}' looks like '{holder}', who is online";

    /// <summary>The client is in: it gets its Welcome and the server-wide room's recent lines, everyone else hears of it.</summary>
    private void Admit(SessionMessages.Join join, IActorRef peer, string key, string shape, byte[] resumeKey, Session? replacing, long claim, bool registered)
    {
        if (replacing is not null)
        {
            _log.Info("{0} reconnected; replacing its previous connection", replacing.Name);
            Remove(replacing); // unwatched: its Terminated will not come
            replacing.Peer.Tell(SessionMessages.Replaced.Instance);
        }
        // Online on another node until now (the same client, moved here): not news to anyone.
        var wasOnline = replacing is not null || _byKey.ContainsKey(key);
        if (_byKey.TryGetValue(key, out var remote) && remote.Node is not null) Remove(remote);
        var limits = _settings.Limits;
        var session = new Session(join.Name, key, shape, peer, join.Connection, resumeKey, join.PeerMaxFrameLength,
            new TokenBucket(limits.FanoutPerSecond, limits.FanoutBurst, _now()), Claim: claim, Identity: IdentityOf(resumeKey), Registered: registered);
        Add(session);
        Context.Watch(peer);
        // The Welcome goes from here, like every presence and chat frame this registry sends to that connection:
        // one sender, so the client sees its Welcome before anything addressed to it as a member.
        session.Connection.Tell(new ConnectionMessages.Send(new Welcome(ProtocolLimits.Version, _settings.MaxFrameSize, _serverName,
            session.Name, session.ResumeKey, registered, _clientLimits, NameList.Fit(Names(), NamesBudget(session.MaxFrame), WelcomeNames))));
        // Right behind the Welcome, from the same sender: from here on the connection says Goodbye, not Refused.
        session.Connection.Tell(ConnectionMessages.HandshakeDone.Instance);
        // The server-wide room's recent lines, before any live line: live lines wait here until the room says how far
        // the scrollback went.
        _awaitingScrollback[session.Connection] = [];
        _entities.Rooms.Tell(new EntityEnvelope(RoomNames.EntityId(""), new RoomMessages.Scrollback(session.Connection, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())));
        Timers.StartSingleTimer(("scrollback", session.Connection), new ScrollbackTimedOut(session.Connection), _nameTimeout);
        // Its account rejoins its rooms and sends the direct messages kept for it; told before anyone hears the client
        // is here, so that a direct message sent on hearing it finds the account knowing its owner is online.
        _entities.Accounts.Tell(new EntityEnvelope(AccountMessages.EntityId(session.Identity), new AccountMessages.Online(session.Name, peer, session.Connection)));
        peer.Tell(new SessionMessages.Joined(session.Name, ClientIdentity.Of(session.ResumeKey)));
        _replica?.Tell(new FederationMessages.LocalSessionUp(Local(session)));
        if (wasOnline) return;
        AnnounceJoined(session);
    }

    private void AnnounceJoined(Session session)
    {
        Context.System.EventStream.Publish(new Events.PeerJoined(session.Name));
        if (_byKey.Count > _settings.Chat.PresenceLimit) return;
        var joined = new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new PeerJoined(session.Name)));
        foreach (var other in _byPeer.Values)
        {
            if (!ReferenceEquals(other, session)) other.Connection.Tell(joined);
        }
    }

    private void AnnounceLeft(Session session)
    {
        Context.System.EventStream.Publish(new Events.PeerLeft(session.Name));
        if (_byKey.Count >= _settings.Chat.PresenceLimit) return;
        var left = new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new PeerLeft(session.Name)));
        foreach (var other in _byPeer.Values) other.Connection.Tell(left);
    }

    private void Add(Session session)
    {
        _byKey[session.Key] = session;
        _byShape[session.Shape] = session;
        if (session.Node is null) _byPeer[session.Peer] = session;
        var at = _sorted.BinarySearch(session.Name, DisplayOrder);
        _sorted.Insert(at < 0 ? ~at : at, session.Name);
        _names = null;
    }

    private void Left(IActorRef peer)
    {
        foreach (var claim in _claims.Values.Where(c => c.Peer.Equals(peer))) claim.Abandoned = true;
        if (!_byPeer.TryGetValue(peer, out var session)) return;
        Remove(session);
        if (session.Registered) _entities.Names.Tell(new NameMessages.Touch(session.Name, session.Identity));
        _replica?.Tell(new FederationMessages.LocalSessionDown(Local(session)));
        AnnounceLeft(session);
    }

    private void Remove(Session session)
    {
        _byKey.Remove(session.Key);
        _byShape.Remove(session.Shape);
        if (session.Node is null)
        {
            _byPeer.Remove(session.Peer);
            Context.Unwatch(session.Peer);
            _awaitingScrollback.Remove(session.Connection);
            _scrollback.Remove(session.Connection);
            Timers.Cancel(("scrollback", session.Connection));
        }
        var at = _sorted.BinarySearch(session.Name, DisplayOrder);
        if (at >= 0) _sorted.RemoveAt(at);
        _names = null;
    }

    /// <summary>From a client's peer actor (its session), or from the server itself (this registry's parent). A peer
    /// that is no longer a session (replaced, or left) speaks for nobody: its late messages are dropped. Every line
    /// that is taken is answered: <see cref="LineAnswers.SayDone"/> once passed on, <see cref="LineAnswers.SayFailed"/>
    /// when it never will be, <see cref="LineAnswers.SayDeferred"/> when its sender must wait for its fan-out
    /// allowance (the peer keeps the line and asks again; nothing is lost).</summary>
    private void OnSay(SessionMessages.Say say)
    {
        if (!_byPeer.TryGetValue(Sender, out var from) && !Sender.Equals(Context.Parent)) return;
        var fromName = from?.Name ?? _serverName;
        var at = DateTimeOffset.UtcNow;
        var atMs = at.ToUnixTimeMilliseconds();
        at = DateTimeOffset.FromUnixTimeMilliseconds(atMs);
        var key = from is null ? "" : RecentLines.Key(say.Origin, say.Id);
        if (say.To.Length == 0)
        {
            // Asked again while the room has not answered (its first request may be lost with a node that died): the
            // same request again, under the same token; the room stores it once.
            if (key.Length != 0 && _storingByKey.TryGetValue(key, out var asked) && _storing.TryGetValue(asked, out var again))
            {
                _entities.Rooms.Tell(new EntityEnvelope(RoomNames.EntityId(""), again.Request));
                return;
            }
            var recipients = _byKey.Count - (from is null ? 0 : 1);
            if (from is not null && recipients > 0)
            {
                // Every node delivers to its own clients; the sender pays here for all of them (a crowd larger than the
                // burst costs the whole burst: the line waits for a full allowance, never forever).
                var cost = Math.Min(recipients, from.Fanout!.Burst);
                var wait = from.Fanout.WaitFor(_now(), cost);
                if (wait > TimeSpan.Zero)
                {
                    Sender.Tell(new LineAnswers.SayDeferred(say.Id, wait));
                    return;
                }
                from.Fanout.TryTake(_now(), cost);
            }
            // Stored first (the server-wide room's entity answers Stored), then delivered and answered.
            var token = ++_nextStoring;
            var request = new RoomMessages.StoreLine(token, fromName, say.Text, atMs, key);
            _storing[token] = new Storing(say.Id, Sender, from, fromName, say.Text, request);
            if (key.Length != 0) _storingByKey[key] = token;
            _entities.Rooms.Tell(new EntityEnvelope(RoomNames.EntityId(""), request));
            return;
        }
        if (PeerNames.Validate(say.To) is null && (PeerNames.Key(say.To) == _serverKey || PeerNames.ShapeKey(say.To) == _serverShape))
        {
            Context.System.EventStream.Publish(new Events.ChatReceived(fromName, _serverName, say.Text, at));
            Sender.Tell(new LineAnswers.SayDone(say.Id, atMs));
            return;
        }
        // A direct message goes to its recipient's account, which stores it, delivers it (or keeps it for the recipient's
        // next connection) and answers the sender.
        if (Find(say.To) is { Identity.Length: > 0 } target)
        {
            _entities.Accounts.Forward(new EntityEnvelope(AccountMessages.EntityId(target.Identity),
                new AccountMessages.Deliver(say.Id, fromName, target.Name, say.Text, atMs, key)));
            return;
        }
        // Offline: whoever registered the name gets it (the name registry knows who; nobody, and the sender hears so).
        _entities.Names.Forward(new NameMessages.DeliverToOwner(say.To, new AccountMessages.Deliver(say.Id, fromName, say.To, say.Text, atMs, key)));
    }

    /// <summary>A stored line of the server-wide room (event <paramref name="seq"/>) to every client of this node but
    /// its sender: held for a client whose scrollback is on its way, skipped for one whose scrollback carried it.</summary>
    private void DeliverBroadcast(string fromName, long atMs, string text, Session? except, long seq)
    {
        var send = new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new ChatFrame(fromName, "", atMs, text)));
        foreach (var session in _byPeer.Values)
        {
            if (ReferenceEquals(session, except)) continue;
            if (_awaitingScrollback.TryGetValue(session.Connection, out var held))
            {
                if (held.Count < MaxHeldForScrollback) held.Add((seq, atMs, send));
                continue;
            }
            if (InScrollback(session.Connection, seq, atMs)) continue;
            session.Connection.Tell(send);
        }
    }

    /// <summary>Was this line in the connection's scrollback? Said before the client arrived and stored before the room
    /// read its recent lines: both, or it is live.</summary>
    private bool InScrollback(IActorRef connection, long seq, long atMs) =>
        _scrollback.TryGetValue(connection, out var sent) && atMs < sent.BeforeMs && seq <= sent.UpTo;

    private void ScrollbackDone(IActorRef connection, long beforeMs, long upTo)
    {
        if (!_awaitingScrollback.Remove(connection, out var held)) return;
        Timers.Cancel(("scrollback", connection));
        _scrollback[connection] = (beforeMs, upTo);
        foreach (var (seq, atMs, frame) in held)
        {
            if (!InScrollback(connection, seq, atMs)) connection.Tell(frame);
        }
    }

    // ---------------------------------------------------------------- federation

    private static FederationMessages.LocalSession Local(Session session) =>
        new(session.Name, session.Peer, session.MaxFrame, ClientIdentity.Of(session.ResumeKey), session.Claim);

    /// <summary>What a federated registry does besides (a single server's registry never sees these).</summary>
    private void Federated()
    {
        Receive<FederationMessages.Federate>(f =>
        {
            _replica = f.Replica;
            _claimTimeout = f.ClaimTimeout;
            // Clients already in are news to the replica too.
            foreach (var session in _byPeer.Values) _replica.Tell(new FederationMessages.LocalSessionUp(Local(session)));
        });
        Receive<FederationMessages.NameClaimAnswer>(OnClaimAnswer);
        Receive<ForgetClaim>(f => _claims.Remove(f.Request));
        Receive<ClaimTimedOut>(t =>
        {
            if (!_claims.TryGetValue(t.Request, out var claim) || claim.Abandoned) return;
            claim.Abandoned = true;
            // Kept a while for its late answer (a grant is given back), then forgotten: an answer lost with a directory
            // that died is never coming.
            Timers.StartSingleTimer(("forget", t.Request), new ForgetClaim(t.Request), TimeSpan.FromMinutes(5));
            claim.Peer.Tell(new SessionMessages.JoinRefused(WireCode.HandshakeTimeout,
                $"the server cluster did not confirm the name within {Units.Seconds(_claimTimeout)}; try again"));
        });
        Receive<FederationMessages.Takeover>(t =>
        {
            if (Find(t.Name) is not { Node: null } session) return;
            _log.Info("{0} reconnected on another server node; replacing its connection here", session.Name);
            Remove(session);
            session.Peer.Tell(SessionMessages.Replaced.Instance);
            // Everyone hears it leave here, and join there from its new node (whose news may already have come and been
            // ignored while it was still ours: the replica asks for it again). Its name stays held: for the new session.
            _replica?.Tell(new FederationMessages.SessionMoved(session.Name));
            AnnounceLeft(session);
        });
        Receive<FederationMessages.RemoteSessionUp>(AddRemote);
        Receive<FederationMessages.RemoteSessionDown>(d =>
        {
            if (Find(d.Name) is { Node: not null } session && session.Peer.Equals(d.Peer))
            {
                Remove(session);
                AnnounceLeft(session);
            }
        });
        Receive<FederationMessages.RemoteNodeGone>(g =>
        {
            foreach (var session in _byKey.Values.Where(s => g.Node.Equals(s.Node)).ToList())
            {
                Remove(session);
                AnnounceLeft(session);
            }
        });
        Receive<FederationMessages.RemoteBroadcast>(b =>
        {
            DeliverBroadcast(b.From, b.AtMs, b.Text, except: null, b.Seq);
            Context.System.EventStream.Publish(new Events.ChatReceived(b.From, null, b.Text, DateTimeOffset.FromUnixTimeMilliseconds(b.AtMs)));
        });
    }

    private void OnClaimAnswer(FederationMessages.NameClaimAnswer answer)
    {
        if (!_claims.Remove(answer.Request, out var claim)) return;
        Timers.Cancel(("claim", answer.Request));
        Timers.Cancel(("forget", answer.Request));
        if (claim.Abandoned)
        {
            if (answer.Granted) _replica?.Tell(new FederationMessages.ReleaseName(claim.Join.Name, ClientIdentity.Of(claim.ResumeKey), answer.Request));
            return;
        }
        if (!answer.Granted)
        {
            claim.Peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, answer.Reason));
            return;
        }
        // A local session of that name may have appeared meanwhile only as the same client (checked at the Join).
        Admit(claim.Join, claim.Peer, claim.Key, claim.Shape, claim.ResumeKey,
            _byKey.TryGetValue(claim.Key, out var local) && local.Node is null ? local : null, answer.Request, claim.Registered);
    }

    private void AddRemote(FederationMessages.RemoteSessionUp remote)
    {
        if (PeerNames.Validate(remote.Name) is not null) return;
        var key = PeerNames.Key(remote.Name);
        var wasOnline = false;
        if (_byKey.TryGetValue(key, out var existing) || _byShape.TryGetValue(PeerNames.ShapeKey(remote.Name), out existing))
        {
            // Ours is the directory's word for this node; a remote one is replaced by news of the same name.
            if (existing.Node is null) return;
            Remove(existing);
            wasOnline = true;
        }
        var session = new Session(remote.Name, key, PeerNames.ShapeKey(remote.Name), remote.Peer, ActorRefs.Nobody, [], remote.MaxFrame, null, remote.Node,
            Identity: remote.Identity.Length > 0 ? Convert.ToHexStringLower(remote.Identity) : "");
        Add(session);
        if (!wasOnline) AnnounceJoined(session);
    }

    /// <summary>Names a Welcome carries at most: as many as are announced (above the presence limit nobody's view of the
    /// crowd is kept current anyway); every client gets a Welcome, so ten thousand arrivals with ten thousand names each
    /// cost the server and every client far more than the list is worth. WhoRequest still lists what fits a frame.</summary>
    private int WelcomeNames => Math.Max(1, _settings.Chat.PresenceLimit);

    /// <summary>Bytes of names a Welcome or WhoReply may carry: what fits the recipient's frame limit (and ours) with
    /// room for the frame's other fields.</summary>
    private int NamesBudget(int peerMaxFrame) => Math.Min(peerMaxFrame, _settings.MaxFrameSize) - 256;

    /// <summary>Everyone online, the server first; computed once per change of membership, not per request.</summary>
    private List<string> Names()
    {
        if (_names is not null) return _names;
        // A copy: a Welcome or WhoReply holding it is encoded later, by the connection.
        _names = new List<string>(_sorted.Count + 1) { _serverName };
        _names.AddRange(_sorted);
        return _names;
    }
}
