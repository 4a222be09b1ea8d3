using System.Diagnostics;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Limits;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;

namespace AkkaTcpTransfer.Server.Sessions;

/// <summary>The server's directory of who is online: unique names (by confusable skeleton, so look-alikes count as
/// taken; the server's own name reserved), presence announcements, and chat routing. A broadcast is encoded once and
/// handed to every recipient's connection directly; it costs its sender one token per recipient from a fan-out
/// bucket, so one client cannot keep the server busy delivering. The server sees every broadcast and every message
/// addressed to it as a <see cref="Events.ChatReceived"/>; direct messages between clients are relayed, not
/// published. It has no children.</summary>
internal sealed class SessionRegistryActor : ReceiveActor
{
    private sealed record Session(string Name, string Key, string Shape, IActorRef Peer, IActorRef Connection, byte[] ResumeKey, int MaxFrame, TokenBucket Fanout);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly string _serverName;
    private readonly string _serverKey;
    private readonly string _serverShape;
    private readonly int _maxClients;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<string, Session> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Session> _byShape = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, Session> _byPeer = [];
    /// <summary>Online clients' names in display order, kept sorted as they come and go: a join costs a binary search
    /// and a move, not a sort of everyone (which made arrivals slow down as the crowd grew).</summary>
    private readonly List<string> _sorted = [];
    private List<string>? _names;

    /// <summary>Case-insensitive order; the exact spelling breaks ties, so every online name has one place.</summary>
    private static readonly Comparer<string> DisplayOrder = Comparer<string>.Create((a, b) =>
    {
        var c = StringComparer.OrdinalIgnoreCase.Compare(a, b);
        return c != 0 ? c : StringComparer.Ordinal.Compare(a, b);
    });

    public static Props Props(NodeSettings settings, int maxClients) => Akka.Actor.Props.Create(() => new SessionRegistryActor(settings, maxClients));

    public SessionRegistryActor(NodeSettings settings, int maxClients)
    {
        _settings = settings;
        _serverName = settings.Name;
        _serverKey = PeerNames.Key(settings.Name);
        _serverShape = PeerNames.ShapeKey(settings.Name);
        _maxClients = maxClients;
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
            Sender.Tell(new SessionMessages.SendRecipient(f.Spec, found?.Name ?? f.Spec.To, found?.Peer));
        });
        Receive<SessionMessages.Leave>(_ =>
        {
            Left(Sender);
            // After everything this registry sent that session's connection: it may now let the connection go.
            Sender.Tell(SessionMessages.Left.Instance);
        });
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
        var replacing = false;
        if (_byKey.TryGetValue(key, out var existing) || _byShape.TryGetValue(shape, out existing))
        {
            var sameClient = join.ResumeKey.Length > 0 && CryptographicOperations.FixedTimeEquals(join.ResumeKey, existing.ResumeKey)
                && join.Name == existing.Name;
            if (!sameClient)
            {
                var reason = string.Equals(join.Name, existing.Name, StringComparison.OrdinalIgnoreCase)
                    ? $"name '{existing.Name}' is already taken"
                    : $"name '{join.Name}' looks like '{existing.Name}', who is online";
                peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, reason));
                return;
            }
            // The same client reconnected before the server noticed its old connection die: hand the name over.
            _log.Info("{0} reconnected; replacing its previous connection", existing.Name);
            Remove(existing); // unwatched: its Terminated will not come
            existing.Peer.Tell(SessionMessages.Replaced.Instance);
            replacing = true;
        }
        else if (_byKey.Count >= _maxClients)
        {
            peer.Tell(new SessionMessages.JoinRefused(WireCode.ServerFull, $"server full ({_maxClients} clients)"));
            return;
        }

        var resumeKey = join.ResumeKey.Length > 0 ? join.ResumeKey : ClientIdentity.NewKey();
        var limits = _settings.Limits;
        var session = new Session(join.Name, key, shape, peer, join.Connection, resumeKey, join.PeerMaxFrameLength,
            new TokenBucket(limits.FanoutPerSecond, limits.FanoutBurst, _clock.Elapsed));
        _byKey[key] = session;
        _byShape[shape] = session;
        _byPeer[peer] = session;
        var at = _sorted.BinarySearch(session.Name, DisplayOrder);
        _sorted.Insert(at < 0 ? ~at : at, session.Name);
        _names = null;
        Context.Watch(peer);
        // The Welcome goes from here, like every presence and chat frame this registry sends to that connection:
        // one sender, so the client sees its Welcome before anything addressed to it as a member.
        session.Connection.Tell(new ConnectionMessages.Send(new Welcome(ProtocolLimits.Version, _settings.MaxFrameSize, _serverName,
            session.Name, session.ResumeKey, NameList.Fit(Names(), NamesBudget(session.MaxFrame), WelcomeNames))));
        // Right behind the Welcome, from the same sender: from here on the connection says Goodbye, not Refused.
        session.Connection.Tell(ConnectionMessages.HandshakeDone.Instance);
        peer.Tell(new SessionMessages.Joined(session.Name, ClientIdentity.Of(session.ResumeKey)));
        if (replacing) return;
        Context.System.EventStream.Publish(new Events.PeerJoined(session.Name));
        if (_byKey.Count > _settings.Chat.PresenceLimit) return;
        var joined = FrameEncoder.Encode(new PeerJoined(session.Name));
        foreach (var other in _byKey.Values)
        {
            if (!ReferenceEquals(other, session)) other.Connection.Tell(new ConnectionMessages.SendEncoded(joined));
        }
    }

    private void Left(IActorRef peer)
    {
        if (!_byPeer.TryGetValue(peer, out var session)) return;
        Remove(session);
        Context.System.EventStream.Publish(new Events.PeerLeft(session.Name));
        if (_byKey.Count >= _settings.Chat.PresenceLimit) return;
        var left = FrameEncoder.Encode(new PeerLeft(session.Name));
        foreach (var other in _byKey.Values) other.Connection.Tell(new ConnectionMessages.SendEncoded(left));
    }

    private void Remove(Session session)
    {
        _byKey.Remove(session.Key);
        _byShape.Remove(session.Shape);
        _byPeer.Remove(session.Peer);
        var at = _sorted.BinarySearch(session.Name, DisplayOrder);
        if (at >= 0) _sorted.RemoveAt(at);
        _names = null;
        Context.Unwatch(session.Peer);
    }

    /// <summary>From a client's peer actor (its session), or from the server itself (this registry's parent). A peer
    /// that is no longer a session (replaced, or left) speaks for nobody: its late messages are dropped.</summary>
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
            if (from is not null && recipients > 0 && !from.Fanout.TryTake(_clock.Elapsed, recipients))
            {
                Sender.Tell(new SessionMessages.SayFailed(WireCode.RateLimited,
                    $"message to everyone refused: you may reach {_settings.Limits.FanoutPerSecond} people per second, and it would reach {recipients}"));
                return;
            }
            var frame = FrameEncoder.Encode(new ChatFrame(fromName, "", atMs, say.Text));
            var send = new ConnectionMessages.SendEncoded(frame);
            foreach (var session in _byKey.Values)
            {
                if (!ReferenceEquals(session, from)) session.Connection.Tell(send);
            }
            if (from is not null) Context.System.EventStream.Publish(new Events.ChatReceived(fromName, null, say.Text, at));
            return;
        }
        if (PeerNames.Validate(say.To) is null && (PeerNames.Key(say.To) == _serverKey || PeerNames.ShapeKey(say.To) == _serverShape))
        {
            Context.System.EventStream.Publish(new Events.ChatReceived(fromName, _serverName, say.Text, at));
            return;
        }
        if (Find(say.To) is { } target)
        {
            target.Connection.Tell(new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new ChatFrame(fromName, target.Name, atMs, say.Text))));
            return;
        }
        Sender.Tell(new SessionMessages.SayFailed(WireCode.UnknownPeer, $"no one named '{say.To}' is online"));
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
