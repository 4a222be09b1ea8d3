using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Cluster;

/// <summary>One node's share of the cluster's view of who is online: it federates the node's session registry
/// (<see cref="FederationMessages"/>), mirrors the registry's own sessions, tells the replicas of the other nodes about
/// them and tells the registry about theirs. It asks the cluster's <see cref="NameDirectoryActor"/> before a client takes
/// a name, answers the directory's rebuild and reconcile questions from its mirror, and passes broadcasts on. Between
/// replicas: a <see cref="ClusterMessages.NodeHello"/> (token and protocol version checked) when a node comes up, then
/// each session's arrival and departure, in order (Akka's per-pair ordering: a node's sessions arrive before anything
/// about them). It has no children.</summary>
internal sealed class RegistryReplicaActor : ReceiveActor
{
    /// <summary>Where every node's replica lives (the directory and the other replicas find it there).</summary>
    public const string Path = "/user/server/cluster/replica";

    /// <summary>From the cluster node: a node is up (its replica lives at <see cref="Path"/> there).</summary>
    public sealed record NodeUp(Address Node);

    /// <summary>From the cluster node: the node left or was removed.</summary>
    public sealed record NodeGone(Address Node);

    /// <summary>From the cluster node: a node is reachable again; what we hold may have diverged from the directory's.</summary>
    public sealed record ReconcileNames
    {
        public static readonly ReconcileNames Instance = new();
        private ReconcileNames() { }
    }

    /// <summary>To the cluster node: the node at <paramref name="Address"/> and this one share their clients.</summary>
    public sealed record NodeAccepted(Address Address);

    /// <summary>To the cluster node: another node refused to share clients with this one.</summary>
    public sealed record NodeRefused(Address By, string Reason);

    /// <summary>What this replica knows of another node: its replica and registry, and who is online there.</summary>
    private sealed class Node(IActorRef replica, IActorRef registry)
    {
        public IActorRef Replica { get; } = replica;
        public IActorRef Registry { get; } = registry;
        public Dictionary<string, IActorRef> Sessions { get; } = new(StringComparer.Ordinal);
        /// <summary>While a hello arrives in parts: the names its parts listed so far.</summary>
        public HashSet<string>? Listing { get; set; }
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _storeId;
    private readonly byte[] _tokenKey;
    private readonly IActorRef _registry;
    private readonly IActorRef _directory;
    private readonly IActorRef _links;
    private readonly IActorRef _node;
    private readonly string _linkHost;
    private readonly Dictionary<string, FederationMessages.LocalSession> _local = new(StringComparer.Ordinal);
    private readonly Dictionary<long, (string Name, byte[] Identity)> _claiming = [];
    private readonly Dictionary<Address, Node> _nodes = [];
    private long _lastClaim;
    private int _linkPort;

    /// <param name="node">The cluster node actor, told who accepted or refused this node.</param>
    /// <param name="storeId">The id of this node's database: a node with another is refused.</param>
    public static Props Props(byte[] tokenKey, string storeId, TimeSpan claimTimeout, IActorRef registry, IActorRef directory, IActorRef links, IActorRef node,
        string linkHost) =>
        Akka.Actor.Props.Create(() => new RegistryReplicaActor(tokenKey, storeId, claimTimeout, registry, directory, links, node, linkHost));

    public RegistryReplicaActor(byte[] tokenKey, string storeId, TimeSpan claimTimeout, IActorRef registry, IActorRef directory, IActorRef links,
        IActorRef node, string linkHost)
    {
        _tokenKey = tokenKey;
        _storeId = storeId;
        _registry = registry;
        _directory = directory;
        _links = links;
        _node = node;
        _linkHost = linkHost;
        registry.Tell(new FederationMessages.Federate(Self, claimTimeout));

        // ---- this node's registry
        Receive<FederationMessages.LocalSessionUp>(u =>
        {
            _local[u.Session.Name] = u.Session;
            ToNodes(new ClusterMessages.SessionUp(Remote(u.Session)));
        });
        Receive<FederationMessages.LocalSessionDown>(d =>
        {
            if (_local.TryGetValue(d.Session.Name, out var held) && held.Peer.Equals(d.Session.Peer)) _local.Remove(d.Session.Name);
            ToNodes(new ClusterMessages.SessionDown(d.Session.Name, d.Session.Peer));
            _directory.Tell(new ClusterMessages.Release(d.Session.Name, d.Session.Identity, d.Session.Claim));
        });
        Receive<FederationMessages.SessionMoved>(m =>
        {
            // Taken over by another node: gone here (the name stays held, for the new session), and the others are asked
            // for its news again, which they may have ignored while it was still ours.
            if (!_local.Remove(m.Name, out var moved)) return;
            ToNodes(new ClusterMessages.SessionDown(moved.Name, moved.Peer));
            ToNodes(new ClusterMessages.ResendSession(moved.Name));
        });
        Receive<FederationMessages.LocalBroadcast>(b => ToNodes(new ClusterMessages.Broadcast(b.From, b.AtMs, b.Text, b.Seq)));
        Receive<FederationMessages.ClaimName>(c =>
        {
            _claiming[c.Request] = (c.Name, c.Identity);
            _lastClaim = Math.Max(_lastClaim, c.Request);
            _directory.Tell(new ClusterMessages.Claim(c.Request, c.Name, c.Identity));
        });
        Receive<FederationMessages.ReleaseName>(r => _directory.Tell(new ClusterMessages.Release(r.Name, r.Identity, r.Claim)));

        // ---- the directory
        Receive<ClusterMessages.ClaimAnswer>(a =>
        {
            _claiming.Remove(a.Request);
            _registry.Tell(new FederationMessages.NameClaimAnswer(a.Request, a.Granted, a.Reason));
        });
        Receive<ClusterMessages.Takeover>(t => _registry.Tell(new FederationMessages.Takeover(t.Name)));
        Receive<ClusterMessages.RebuildRequest>(_ => SendInParts(Held(claiming: false), (part, last) => Sender.Tell(new ClusterMessages.Holding(part, last))));
        Receive<ReconcileNames>(_ =>
            // Everything held or being claimed here, with the newest request id issued so far.
            SendInParts(Held(claiming: true), (part, last) => _directory.Tell(new ClusterMessages.Reconcile(part, _lastClaim, last))));

        // ---- the other nodes
        Receive<NodeUp>(u => SendHello(Context.ActorSelection(new RootActorPath(u.Node) / Path.Split('/', StringSplitOptions.RemoveEmptyEntries))));
        Receive<NodeGone>(g => Forget(g.Node));
        Receive<ClusterMessages.NodeHello>(OnNodeHello);
        Receive<ClusterMessages.NodeRefused>(r => _node.Tell(new NodeRefused(Sender.Path.Address, r.Reason)));
        Receive<ClusterMessages.SessionUp>(u =>
        {
            if (!_nodes.TryGetValue(Sender.Path.Address, out var node)) return;
            node.Sessions[u.Session.Name] = u.Session.Peer;
            _registry.Tell(new FederationMessages.RemoteSessionUp(u.Session.Name, u.Session.Peer, u.Session.MaxFrame, node.Registry, u.Session.Identity));
        });
        Receive<ClusterMessages.SessionDown>(d =>
        {
            if (_nodes.TryGetValue(Sender.Path.Address, out var node)) node.Sessions.Remove(d.Name);
            _registry.Tell(new FederationMessages.RemoteSessionDown(d.Name, d.Peer));
        });
        Receive<ClusterMessages.ResendSession>(r =>
        {
            if (_local.TryGetValue(r.Name, out var session)) Sender.Tell(new ClusterMessages.SessionUp(Remote(session)));
        });
        Receive<ClusterMessages.Broadcast>(b =>
        {
            if (_nodes.ContainsKey(Sender.Path.Address)) _registry.Tell(new FederationMessages.RemoteBroadcast(b.From, b.AtMs, b.Text, b.Seq));
        });
        Receive<Terminated>(t => Forget(t.ActorRef.Path.Address));
        Receive<NodeLinksActor.Stats>(s =>
        {
            // The link port is bound: nodes that heard from us before hear again, now with it.
            _linkPort = s.Port;
            foreach (var node in _nodes.Values) SendHello(node.Replica);
        });
    }

    private static ClusterMessages.RemoteSession Remote(FederationMessages.LocalSession session) => new(session.Name, session.Peer, session.MaxFrame, session.Identity);

    private List<ClusterMessages.HeldName> Held(bool claiming) =>
        [.. _local.Values.Select(s => new ClusterMessages.HeldName(s.Name, s.Identity, s.Claim)),
         .. claiming ? _claiming.Select(c => new ClusterMessages.HeldName(c.Value.Name, c.Value.Identity, c.Key)) : []];

    private static void SendInParts(List<ClusterMessages.HeldName> held, Action<IReadOnlyList<ClusterMessages.HeldName>, bool> send)
    {
        var parts = held.Chunk(ClusterMessages.NodeHello.PartSize).ToList();
        if (parts.Count == 0) send([], true);
        for (var i = 0; i < parts.Count; i++) send(parts[i], i == parts.Count - 1);
    }

    /// <summary>Another node's sessions, in parts; part 0 replaces what we held for it. We answer its first part with
    /// ours, so each side has the other's whole picture whoever saw whom first.</summary>
    private void OnNodeHello(ClusterMessages.NodeHello hello)
    {
        var address = Sender.Path.Address;
        if (ClusterKeys.Mismatch(ProtocolLimits.Version, _tokenKey, _storeId, hello.ProtocolVersion, hello.TokenKey, hello.StoreId) is { } mismatch)
        {
            _log.Warning("server node {0} may not join: {1}", address, mismatch);
            Sender.Tell(new ClusterMessages.NodeRefused($"the cluster refused this node: {mismatch.Replace("this node", "the cluster's node")}"));
            return;
        }
        if (!_nodes.TryGetValue(address, out var node) || !node.Replica.Equals(Sender))
        {
            if (node is not null) Forget(address);
            node = _nodes[address] = new Node(Sender, hello.Registry);
            Context.Watch(Sender);
            SendHello(Sender);
            _node.Tell(new NodeAccepted(address));
        }
        // The parts of one hello name everyone online there; who is not named in any part has gone (judged once, at the
        // last part, so that nobody named in a later part seems to leave and come back).
        if (hello.Part == 0) node.Listing = new HashSet<string>(StringComparer.Ordinal);
        foreach (var session in hello.Sessions)
        {
            if (PeerNames.Validate(session.Name) is not null) continue;
            node.Sessions[session.Name] = session.Peer;
            node.Listing?.Add(session.Name);
            _registry.Tell(new FederationMessages.RemoteSessionUp(session.Name, session.Peer, session.MaxFrame, node.Registry, session.Identity));
        }
        if (hello.Last && node.Listing is { } listed)
        {
            node.Listing = null;
            foreach (var (name, peer) in node.Sessions.Where(kv => !listed.Contains(kv.Key)).ToList())
            {
                node.Sessions.Remove(name);
                _registry.Tell(new FederationMessages.RemoteSessionDown(name, peer));
            }
        }
        if (hello.Part == 0 && hello.LinkPort > 0) _links.Tell(new NodeLinksActor.LinkAddress(address, hello.LinkHost, hello.LinkPort));
    }

    private void SendHello(ICanTell to)
    {
        var sessions = _local.Values.Select(Remote).ToList();
        var part = 0;
        do
        {
            var slice = sessions.Skip(part * ClusterMessages.NodeHello.PartSize).Take(ClusterMessages.NodeHello.PartSize).ToList();
            var last = (part + 1) * ClusterMessages.NodeHello.PartSize >= sessions.Count;
            to.Tell(new ClusterMessages.NodeHello(ProtocolLimits.Version, _tokenKey, part, last, slice, _registry, _linkHost, _linkPort, _storeId), Self);
            part++;
        }
        while (part * ClusterMessages.NodeHello.PartSize < sessions.Count);
    }

    private void Forget(Address address)
    {
        _links.Tell(new NodeLinksActor.NodeGone(address));
        if (!_nodes.Remove(address, out var node)) return;
        Context.Unwatch(node.Replica);
        _registry.Tell(new FederationMessages.RemoteNodeGone(node.Registry));
    }

    private void ToNodes(IClusterMessage message)
    {
        foreach (var node in _nodes.Values) node.Replica.Tell(message);
    }
}
