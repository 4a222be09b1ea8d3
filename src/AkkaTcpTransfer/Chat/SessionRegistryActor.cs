using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;

namespace AkkaTcpTransfer.Chat;

/// <summary>The server's directory of who is online: unique names (case-insensitive, the server's own name
/// reserved), presence announcements, and chat routing. A broadcast is encoded once and handed to every
/// recipient's connection directly. The server sees every broadcast and every message addressed to it as a
/// <see cref="Events.ChatReceived"/>; direct messages between clients are relayed, not published.</summary>
internal sealed class SessionRegistryActor : ReceiveActor
{
    private sealed record Session(string Name, IActorRef Peer, IActorRef Connection, byte[] ResumeKey, int MaxFrame);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly string _serverName;
    private readonly int _maxClients;
    private readonly Dictionary<string, Session> _byName = new(PeerNames.Comparer);
    private readonly Dictionary<IActorRef, Session> _byPeer = [];
    private readonly HashSet<IActorRef> _replaced = [];

    public static Props Props(NodeSettings settings) => Akka.Actor.Props.Create(() => new SessionRegistryActor(settings));

    public SessionRegistryActor(NodeSettings settings)
    {
        _settings = settings;
        _serverName = settings.Name;
        _maxClients = settings.Server.MaxClients;
        Receive<SessionMessages.Join>(OnJoin);
        Receive<Terminated>(OnPeerTerminated);
        Receive<SessionMessages.Say>(OnSay);
        Receive<SessionMessages.Who>(_ => Sender.Tell(new SessionMessages.WhoResult(NameList.Fit(Names(),
            NamesBudget(_byPeer.TryGetValue(Sender, out var asker) ? asker.MaxFrame : _settings.MaxFrameSize)))));
        Receive<SessionMessages.Lookup>(l => Sender.Tell(new SessionMessages.LookupResult(l.Name,
            _byName.TryGetValue(l.Name, out var session) ? session.Peer : null, l.Tag)));
        Receive<SessionMessages.Leave>(_ => Left(Sender));
    }

    private void OnJoin(SessionMessages.Join join)
    {
        var peer = Sender;
        if (PeerNames.Comparer.Equals(join.Name, _serverName))
        {
            peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, $"name '{join.Name}' is taken (it is the server's)"));
            return;
        }
        var replacing = false;
        if (_byName.TryGetValue(join.Name, out var existing))
        {
            var sameClient = join.ResumeKey.Length > 0 && CryptographicOperations.FixedTimeEquals(join.ResumeKey, existing.ResumeKey);
            if (!sameClient)
            {
                peer.Tell(new SessionMessages.JoinRefused(WireCode.NameTaken, $"name '{existing.Name}' is already taken"));
                return;
            }
            // The same client reconnected before the server noticed its old connection die: hand the name over.
            _log.Info("{0} reconnected; replacing its previous connection", existing.Name);
            Remove(existing);
            _replaced.Add(existing.Peer);
            existing.Peer.Tell(SessionMessages.Replaced.Instance);
            replacing = true;
        }
        else if (_byName.Count >= _maxClients)
        {
            peer.Tell(new SessionMessages.JoinRefused(WireCode.ServerFull, $"server full ({_maxClients} clients)"));
            return;
        }

        var session = new Session(join.Name, peer, join.Connection, RandomNumberGenerator.GetBytes(16), join.PeerMaxFrameLength);
        _byName[session.Name] = session;
        _byPeer[peer] = session;
        Context.Watch(peer);
        // The Welcome goes from here, like every presence and chat frame this registry sends to that connection:
        // one sender, so the client sees its Welcome before anything addressed to it as a member.
        session.Connection.Tell(new ConnectionMessages.Send(new Welcome(ProtocolLimits.Version, _settings.MaxFrameSize, _serverName,
            session.Name, session.ResumeKey, NameList.Fit(Names(), NamesBudget(session.MaxFrame)))));
        peer.Tell(new SessionMessages.Joined(session.Name));
        if (replacing) return;
        Context.System.EventStream.Publish(new Events.PeerJoined(session.Name));
        if (_byName.Count > _settings.Chat.PresenceLimit) return;
        var joined = FrameEncoder.Encode(new PeerJoined(session.Name));
        foreach (var other in _byName.Values)
        {
            if (!ReferenceEquals(other, session)) other.Connection.Tell(new ConnectionMessages.SendEncoded(joined));
        }
    }

    private void OnPeerTerminated(Terminated t)
    {
        if (_replaced.Remove(t.ActorRef)) return;
        Left(t.ActorRef);
    }

    private void Left(IActorRef peer)
    {
        if (!_byPeer.TryGetValue(peer, out var session)) return;
        Remove(session);
        Context.System.EventStream.Publish(new Events.PeerLeft(session.Name));
        if (_byName.Count >= _settings.Chat.PresenceLimit) return;
        var left = FrameEncoder.Encode(new PeerLeft(session.Name));
        foreach (var other in _byName.Values) other.Connection.Tell(new ConnectionMessages.SendEncoded(left));
    }

    private void Remove(Session session)
    {
        _byName.Remove(session.Name);
        _byPeer.Remove(session.Peer);
        Context.Unwatch(session.Peer);
    }

    private void OnSay(SessionMessages.Say say)
    {
        var at = DateTimeOffset.UtcNow;
        var atMs = at.ToUnixTimeMilliseconds();
        at = DateTimeOffset.FromUnixTimeMilliseconds(atMs);
        if (say.To.Length == 0)
        {
            var frame = FrameEncoder.Encode(new ChatFrame(say.From, "", atMs, say.Text));
            var send = new ConnectionMessages.SendEncoded(frame);
            foreach (var session in _byName.Values)
            {
                if (!PeerNames.Comparer.Equals(session.Name, say.From)) session.Connection.Tell(send);
            }
            if (!PeerNames.Comparer.Equals(say.From, _serverName))
                Context.System.EventStream.Publish(new Events.ChatReceived(say.From, null, say.Text, at));
            return;
        }
        if (PeerNames.Comparer.Equals(say.To, _serverName))
        {
            Context.System.EventStream.Publish(new Events.ChatReceived(say.From, _serverName, say.Text, at));
            return;
        }
        if (_byName.TryGetValue(say.To, out var target))
        {
            target.Connection.Tell(new ConnectionMessages.SendEncoded(FrameEncoder.Encode(new ChatFrame(say.From, target.Name, atMs, say.Text))));
            return;
        }
        Sender.Tell(new SessionMessages.SayFailed(WireCode.UnknownPeer, $"no one named '{say.To}' is online"));
    }

    /// <summary>Bytes of names a Welcome or WhoReply may carry: what fits the recipient's frame limit (and ours) with
    /// room for the frame's other fields.</summary>
    private int NamesBudget(int peerMaxFrame) => Math.Min(peerMaxFrame, _settings.MaxFrameSize) - 256;

    private List<string> Names()
    {
        var names = new List<string>(_byName.Count + 1) { _serverName };
        names.AddRange(_byName.Keys.Order(StringComparer.OrdinalIgnoreCase));
        return names;
    }
}
