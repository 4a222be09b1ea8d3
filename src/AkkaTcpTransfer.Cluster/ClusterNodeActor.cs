using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Event;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cluster;

/// <summary>This server's membership in the cluster, a child of the server root (started by <see cref="ClusterPlugin"/>):
/// joins the cluster through its seeds, runs this node's share of the name directory singleton and its proxy and the
/// <see cref="RegistryReplicaActor"/>, follows the membership (published as <see cref="ClusterMemberChanged"/>, passed to
/// the replica), and tells the server it is ready only once this node is up and the nodes already there have accepted it
/// (same token, same protocol). A node the cluster refuses, or that cannot join in time, says why to the server.</summary>
/// <remarks>Supervision: its children (the directory's manager and proxy, the replica) are stopped when they fail, and
/// the replica is watched: without it the node would serve names nobody else knows, so its end ends this actor, which
/// the server root watches as a part it cannot work without.</remarks>
internal sealed class ClusterNodeActor : ReceiveActor, IWithTimers
{
    private sealed class JoinTimedOut
    {
        public static readonly JoinTimedOut Instance = new();
    }

    private sealed class AcceptanceWaitOver
    {
        public static readonly AcceptanceWaitOver Instance = new();
    }

    private sealed class ReconcileTick
    {
        public static readonly ReconcileTick Instance = new();
    }

    /// <summary>How often this node lists its names to the directory, besides when a node is reachable again. A release
    /// sent while this node could not reach the directory's node is lost, and this node may never have seen that node
    /// as unreachable (a short cut, noticed only on the other side): the next list frees the name. The list is the
    /// whole truth each time; the directory frees only what it granted before the list was made.</summary>
    internal static readonly TimeSpan ReconcileEvery = TimeSpan.FromSeconds(10);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IActorRef _server;
    private readonly IActorRef _replica;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly HashSet<Address> _accepted = [];
    /// <summary>Nodes that were up when this one came up and have not yet accepted it.</summary>
    private HashSet<Address>? _awaitingAcceptance;
    private bool _ready;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(NodeSettings settings, IActorRef server, IActorRef registry, IActorRef links) =>
        Akka.Actor.Props.Create(() => new ClusterNodeActor(settings, server, registry, links));

    public ClusterNodeActor(NodeSettings settings, IActorRef server, IActorRef registry, IActorRef links)
    {
        _settings = settings;
        _server = server;
        // The directory runs on the oldest node; every node hosts a manager for it and talks to it through a proxy.
        Context.ActorOf(ClusterSingletonManager.Props(NameDirectoryActor.Props(RegistryReplicaActor.Path), PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(Context.System)), "names");
        var directory = Context.ActorOf(ClusterSingletonProxy.Props("/user/server/cluster/names",
            ClusterSingletonProxySettings.Create(Context.System)), "names-proxy");
        _replica = Context.ActorOf(RegistryReplicaActor.Props(ClusterKeys.TokenKey(settings.Token), Store.StoreExtension.Of(Context.System).Id,
            settings.Cluster.ClaimTimeout, registry, directory,
            links, Self, settings.Cluster.LinkPublicHost), "replica");
        Context.Watch(_replica);
        links.Tell(new NodeLinksActor.TellBound(_replica));

        Receive<ClusterEvent.MemberUp>(OnMemberUp);
        Receive<ClusterEvent.MemberRemoved>(r =>
        {
            Publish(r.Member.Address, "removed");
            if (r.Member.Address != _cluster.SelfAddress) _replica.Tell(new RegistryReplicaActor.NodeGone(r.Member.Address));
        });
        Receive<ClusterEvent.UnreachableMember>(u => Publish(u.Member.Address, "unreachable"));
        Receive<ClusterEvent.ReachableMember>(u =>
        {
            Publish(u.Member.Address, "reachable");
            // What went between us while it was unreachable may be lost: our whole picture goes again.
            if (u.Member.Address != _cluster.SelfAddress) _replica.Tell(new RegistryReplicaActor.NodeUp(u.Member.Address));
            _replica.Tell(RegistryReplicaActor.ReconcileNames.Instance);
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ReconcileTick>(_ => _replica.Tell(RegistryReplicaActor.ReconcileNames.Instance));
        Receive<RegistryReplicaActor.NodeAccepted>(a =>
        {
            _accepted.Add(a.Address);
            if (_awaitingAcceptance is not null && _awaitingAcceptance.Remove(a.Address) && _awaitingAcceptance.Count == 0)
                Self.Tell(AcceptanceWaitOver.Instance);
        });
        Receive<AcceptanceWaitOver>(_ =>
        {
            Timers.Cancel(nameof(AcceptanceWaitOver));
            if (_ready) return;
            _ready = true;
            _server.Tell(ServerPluginMessages.Ready.Instance);
        });
        Receive<JoinTimedOut>(_ =>
        {
            var seeds = _settings.Cluster.Seeds.Count == 0 ? "itself" : string.Join(", ", _settings.Cluster.Seeds.Select(s => $"{s.Host}:{s.Port}"));
            _server.Tell(new ServerPluginMessages.Failed(StartFailure.ClusterJoin,
                $"could not join the server cluster through {seeds} within {Units.Seconds(_settings.Cluster.JoinTimeout)}: is each seed a server node's cluster port, and reachable?" +
                (_settings.Cluster.CertificateFile is null ? " (this node runs without TLS: a cluster with a cluster key refuses it)" : "")));
        });
        Receive<RegistryReplicaActor.NodeRefused>(r =>
        {
            var members = _cluster.State.Members;
            var me = members.FirstOrDefault(m => m.Address == _cluster.SelfAddress);
            var them = members.FirstOrDefault(m => m.Address == r.By);
            // Both sides refuse each other; the newer node is the one that goes.
            if (me is not null && them is not null && me.IsOlderThan(them)) return;
            var reason = $"{r.Reason} (node {HostPort(r.By)})";
            _server.Tell(new ServerPluginMessages.Failed(StartFailure.ClusterJoin, _ready ? $"{reason}; this node leaves the cluster" : reason));
            _cluster.Leave(_cluster.SelfAddress);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_replica), _ =>
        {
            _log.Error("the cluster's registry replica stopped; this node cannot share its clients any more");
            Context.Stop(Self);
        });
    }

    /// <summary>A child that fails is stopped; the replica's end ends this actor (see the class remarks).</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Timers.StartSingleTimer(nameof(JoinTimedOut), JoinTimedOut.Instance, _settings.Cluster.JoinTimeout);
        Timers.StartPeriodicTimer(nameof(ReconcileTick), ReconcileTick.Instance, ReconcileEvery);
        // No seeds: this node founds a cluster. Listed seeds may include this node itself (the same list everywhere).
        if (_settings.Cluster.Seeds.Count == 0) _cluster.Join(_cluster.SelfAddress);
        else _cluster.JoinSeedNodes(_settings.Cluster.Seeds.Select(s => ClusterConfig.SeedAddress(_cluster.SelfAddress.Protocol, s.Host, s.Port)));
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnMemberUp(ClusterEvent.MemberUp up)
    {
        Publish(up.Member.Address, "up");
        if (up.Member.Address != _cluster.SelfAddress)
        {
            _replica.Tell(new RegistryReplicaActor.NodeUp(up.Member.Address));
            return;
        }
        // Up: now the nodes already there check us (token, version) while we check them.
        Timers.Cancel(nameof(JoinTimedOut));
        _awaitingAcceptance = _cluster.State.Members
            .Where(m => m.Address != _cluster.SelfAddress && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp)
            .Select(m => m.Address).ToHashSet();
        _awaitingAcceptance.ExceptWith(_accepted);
        if (_awaitingAcceptance.Count == 0) Self.Tell(AcceptanceWaitOver.Instance);
        else Timers.StartSingleTimer(nameof(AcceptanceWaitOver), AcceptanceWaitOver.Instance, NameDirectoryActor.RebuildWait);
    }

    private void Publish(Address node, string status) =>
        Context.System.EventStream.Publish(new ClusterMemberChanged(HostPort(node), status, node == _cluster.SelfAddress));

    private static string HostPort(Address address) => $"{address.Host}:{address.Port}";
}
