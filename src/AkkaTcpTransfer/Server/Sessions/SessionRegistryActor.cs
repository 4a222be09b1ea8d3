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
using AkkaTcpTransfer.Server.Federation;
using AkkaTcpTransfer.Text;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;

namespace AkkaTcpTransfer.Server.Sessions;

/// <summary>The server's directory of who is online: unique names (by confusable skeleton, so look-alikes count as
/// taken; the server's own name reserved), presence announcements, and chat routing. A broadcast is encoded once and
/// handed to every recipient's connection directly; it costs its sender one token per recipient from a fan-out
/// bucket, so one client cannot keep the server busy delivering. The server sees every broadcast and every message
/// addressed to it as a <see cref="Events.ChatReceived"/>; direct messages between clients are relayed, not
/// published. It has no children.</summary>
/// <remarks>Federated (a cluster of servers, through a replica its plugin provides: <see cref="FederationMessages"/>), it also
/// holds the clients online on the other nodes (<see cref="Session.Node"/> is that node's registry), so presence, who,
/// direct chat and offers reach them; it asks the replica before letting a client take a name; and it reports its own
/// clients and broadcasts to the replica, which shares them.</remarks>
internal sealed class SessionRegistryActor : ReceiveActor, IWithTimers
{
    /// <param name="Node">Null for a client of this node; else the registry of the node it is connected to (and
    /// <paramref name="Connection"/> is Nobody).</param>
    /// <param name="Claim">Federated, the request id the replica granted this client's name for (0 otherwise).</param>
    private sealed record Session(string Name, string Key, string Shape, IActorRef Peer, IActorRef Connection, byte[] ResumeKey, int MaxFrame,
        TokenBucket? Fanout, IActorRef? Node = null, long Claim = 0);

    /// <summary>A Join waiting for the directory's answer.</summary>
    private sealed record PendingClaim(SessionMessages.Join Join, IActorRef Peer, string Key, string Shape, byte[] ResumeKey)
    {
        /// <summary>The client left or the wait timed out: a late grant is given back.</summary>
        public bool Abandoned { get; set; }
    }

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

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Case-insensitive order; the exact spelling breaks ties, so every online name has one place.</summary>
    private static readonly Comparer<string> DisplayOrder = Comparer<string>.Create((a, b) =>
    {
        var c = StringComparer.OrdinalIgnoreCase.Compare(a, b);
        return c != 0 ? c : StringComparer.Ordinal.Compare(a, b);
    });

    /// <param name="clock">For tests: the time its allowances refill by (a monotonic clock by default).</param>
    public static Props Props(NodeSettings settings, int maxClients, Func<TimeSpan>? clock = null) =>
        Akka.Actor.Props.Create(() => new SessionRegistryActor(settings, maxClients, clock));

    private readonly Func<TimeSpan> _now;

    public SessionRegistryActor(NodeSettings settings, int maxClients, Func<TimeSpan>? clock)
    {
        var stopwatch = Stopwatch.StartNew();
        _now = clock ?? (() => stopwatch.Elapsed);
        _settings = settings;
        _serverName = settings.Name;
        _serverKey = PeerNames.Key(settings.Name);
        _serverShape = PeerNames.ShapeKey(settings.Name);
        _maxClients = maxClients;
        var limits = settings.Limits;
        _clientLimits = new ClientLimits(limits.ChatPerSecond, limits.ChatBurst, limits.WhoPerSecond, limits.WhoBurst, limits.OffersPerSecond, limits.OffersBurst);
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
        if (_replica is null || replacing is not null)
        {
            Admit(join, peer, key, shape, resumeKey, replacing, replacing?.Claim ?? 0);
            return;
        }
        // Another client of this node asking for the same name right now: the first asks the directory.
        if (_claims.Values.FirstOrDefault(c => !c.Abandoned && (c.Key == key || c.Shape == shape)) is { } pending)
        {
            peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, TakenReason(join.Name, pending.Join.Name)));
            return;
        }
        var request = ++_nextClaim;
        _claims[request] = new PendingClaim(join, peer, key, shape, resumeKey);
        _replica.Tell(new FederationMessages.ClaimName(request, join.Name, ClientIdentity.Of(resumeKey)));
        Timers.StartSingleTimer(("claim", request), new ClaimTimedOut(request), _claimTimeout);
    }

    private static string TakenReason(string wanted, string holder) =>
        string.Equals(wanted, holder, StringComparison.OrdinalIgnoreCase)
            ? $"name '{holder}' is already taken"
            : $"name '{wanted}' looks like '{holder}', who is online";

    /// <summary>The client is in: it gets its Welcome, everyone else hears of it.</summary>
    private void Admit(SessionMessages.Join join, IActorRef peer, string key, string shape, byte[] resumeKey, Session? replacing, long claim)
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
            new TokenBucket(limits.FanoutPerSecond, limits.FanoutBurst, _now()), Claim: claim);
        Add(session);
        Context.Watch(peer);
        // The Welcome goes from here, like every presence and chat frame this registry sends to that connection:
        // one sender, so the client sees its Welcome before anything addressed to it as a member.
        session.Connection.Tell(new ConnectionMessages.Send(new Welcome(ProtocolLimits.Version, _settings.MaxFrameSize, _serverName,
            session.Name, session.ResumeKey, _clientLimits, NameList.Fit(Names(), NamesBudget(session.MaxFrame), WelcomeNames))));
        // Right behind the Welcome, from the same sender: from here on the connection says Goodbye, not Refused.
        session.Connection.Tell(ConnectionMessages.HandshakeDone.Instance);
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
        }
        var at = _sorted.BinarySearch(session.Name, DisplayOrder);
        if (at >= 0) _sorted.RemoveAt(at);
        _names = null;
    }

    /// <summary>From a client's peer actor (its session), or from the server itself (this registry's parent). A peer
    /// that is no longer a session (replaced, or left) speaks for nobody: its late messages are dropped. Every line
    /// that is taken is answered: <see cref="SessionMessages.SayDone"/> once passed on, <see cref="SessionMessages.SayFailed"/>
    /// when it never will be, <see cref="SessionMessages.SayDeferred"/> when its sender must wait for its fan-out
    /// allowance (the peer keeps the line and asks again; nothing is lost).</summary>
    private void OnSay(SessionMessages.Say say)
    {
        if (!_byPeer.TryGetValue(Sender, out var from) && !Sender.Equals(Context.Parent)) return;
        var fromName = from?.Name ?? _serverName;
        var at = DateTimeOffset.UtcNow;
        var atMs = at.ToUnixTimeMilliseconds();
        at = DateTimeOffset.FromUnixTimeMilliseconds(atMs);
        if (say.To.Length == 0)
        {
            var recipients = _byKey.Count - (from is null ? 0 : 1);
            if (from is not null && recipients > 0)
            {
                // Every node delivers to its own clients; the sender pays here for all of them (a crowd larger than the
                // burst costs the whole burst: the line waits for a full allowance, never forever).
                var cost = Math.Min(recipients, from.Fanout!.Burst);
                var wait = from.Fanout.WaitFor(_now(), cost);
                if (wait > TimeSpan.Zero)
                {
                    Sender.Tell(new SessionMessages.SayDeferred(say.Id, wait));
                    return;
                }
                from.Fanout.TryTake(_now(), cost);
            }
            DeliverBroadcast(fromName, atMs, say.Text, except: from);
            _replica?.Tell(new FederationMessages.LocalBroadcast(fromName, atMs, say.Text));
            if (from is not null) Context.System.EventStream.Publish(new Events.ChatReceived(fromName, null, say.Text, at));
            Sender.Tell(new SessionMessages.SayDone(say.Id, atMs));
            return;
        }
        if (PeerNames.Validate(say.To) is null && (PeerNames.Key(say.To) == _serverKey || PeerNames.ShapeKey(say.To) == _serverShape))
        {
            Context.System.EventStream.Publish(new Events.ChatReceived(fromName, _serverName, say.Text, at));
            Sender.Tell(new SessionMessages.SayDone(say.Id, atMs));
            return;
        }
        if (Find(say.To) is { Node: { } node } remoteTarget)
        {
            // That node's registry delivers it and answers the sender itself.
            node.Tell(new FederationMessages.Direct(say.Id, fromName, remoteTarget.Name, atMs, say.Text), Sender);
            return;
        }
        if (Find(say.To) is { } target)
        {
            target.Connection.Tell(new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new ChatFrame(fromName, target.Name, atMs, say.Text))));
            Sender.Tell(new SessionMessages.SayDone(say.Id, atMs));
            return;
        }
        Sender.Tell(new SessionMessages.SayFailed(say.Id, WireCode.UnknownPeer, $"no one named '{say.To}' is online"));
    }

    private void DeliverBroadcast(string fromName, long atMs, string text, Session? except)
    {
        var send = new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new ChatFrame(fromName, "", atMs, text)));
        foreach (var session in _byPeer.Values)
        {
            if (!ReferenceEquals(session, except)) session.Connection.Tell(send);
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
            DeliverBroadcast(b.From, b.AtMs, b.Text, except: null);
            Context.System.EventStream.Publish(new Events.ChatReceived(b.From, null, b.Text, DateTimeOffset.FromUnixTimeMilliseconds(b.AtMs)));
        });
        Receive<FederationMessages.Direct>(d =>
        {
            if (Find(d.To) is { Node: null } target)
            {
                target.Connection.Tell(new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new ChatFrame(d.From, target.Name, d.AtMs, d.Text))));
                Sender.Tell(new SessionMessages.SayDone(d.Id, d.AtMs));
            }
            else
            {
                Sender.Tell(new SessionMessages.SayFailed(d.Id, WireCode.UnknownPeer, $"no one named '{d.To}' is online"));
            }
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
            _byKey.TryGetValue(claim.Key, out var local) && local.Node is null ? local : null, answer.Request);
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
        var session = new Session(remote.Name, key, PeerNames.ShapeKey(remote.Name), remote.Peer, ActorRefs.Nobody, [], remote.MaxFrame, null, remote.Node);
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
