using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using AkkaTcpTransfer.Chat;

namespace AkkaTcpTransfer.Cluster;

/// <summary>The cluster's one authority on names: runs as a cluster singleton (on the oldest node), so claims from
/// every node are decided one at a time and two clients asking two nodes for the same name at the same moment cannot
/// both get it. A name is taken when its case-folded key or its confusable skeleton is held by another identity; the
/// same identity (the same client's resume key) takes its name over from wherever it was, which is how a client whose
/// node died comes back online at once on another.</summary>
/// <remarks>Its state lives only in memory. A new directory (first start, or after the oldest node left or died)
/// first asks every node's registry replica what its clients hold (<see cref="ClusterMessages.RebuildRequest"/>) and answers
/// no claim until all have replied or <c>RebuildWait</c> has passed. Names are freed when their client leaves
/// (<see cref="ClusterMessages.Release"/>) or when the node holding them is gone (its replica's Terminated, which
/// comes once the node is removed from the cluster). In a network partition the split brain resolver keeps the
/// majority side and stops the minority, so one directory is left; until it decides, claims wait (and time out at
/// the registry with "try again"). It has no children.</remarks>
internal sealed class NameDirectoryActor : ReceiveActor, IWithUnboundedStash, IWithTimers
{
    private sealed record Entry(string Name, string Key, string Shape, byte[] Identity, IActorRef Owner, long Claim);

    private sealed class RebuildWaitOver
    {
        public static readonly RebuildWaitOver Instance = new();
    }

    internal static readonly TimeSpan RebuildWait = TimeSpan.FromSeconds(3);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _registryPath;
    private readonly Dictionary<string, Entry> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry> _byShape = new(StringComparer.Ordinal);
    private readonly HashSet<IActorRef> _owners = [];
    private readonly HashSet<Address> _awaiting = [];
    /// <summary>Names listed so far by a node whose <see cref="ClusterMessages.Reconcile"/> is arriving in parts.</summary>
    private readonly Dictionary<IActorRef, HashSet<string>> _reconciling = [];

    public IStash Stash { get; set; } = null!;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="replicaPath">Where each node's registry replica lives (<see cref="RegistryReplicaActor.Path"/>).</param>
    public static Props Props(string replicaPath) => Akka.Actor.Props.Create(() => new NameDirectoryActor(replicaPath));

    public NameDirectoryActor(string replicaPath)
    {
        _registryPath = replicaPath;
        Become(Rebuilding);
    }

    protected override void PreStart()
    {
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        foreach (var member in cluster.State.Members.Where(m => m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.WeaklyUp))
        {
            _awaiting.Add(member.Address);
            Context.ActorSelection(new RootActorPath(member.Address) / _registryPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
                .Tell(ClusterMessages.RebuildRequest.Instance);
        }
        Timers.StartSingleTimer(nameof(RebuildWaitOver), RebuildWaitOver.Instance, RebuildWait);
    }

    private void Rebuilding()
    {
        Receive<ClusterMessages.Holding>(h =>
        {
            Hold(h);
            if (h.Last && _awaiting.Remove(AddressOf(Sender)) && _awaiting.Count == 0) Ready();
        });
        Receive<RebuildWaitOver>(_ =>
        {
            if (_awaiting.Count > 0) _log.Warning("name directory: no answer from {0} node(s) in {1}; answering claims anyway", _awaiting.Count, RebuildWait);
            Ready();
        });
        Receive<Terminated>(OnTerminated);
        ReceiveAny(_ => Stash.Stash());
    }

    private void Ready()
    {
        Timers.Cancel(nameof(RebuildWaitOver));
        _log.Info("name directory ready: {0} names held", _byKey.Count);
        Become(Serving);
        Stash.UnstashAll();
    }

    private void Serving()
    {
        Receive<ClusterMessages.Claim>(OnClaim);
        Receive<ClusterMessages.Release>(OnRelease);
        Receive<ClusterMessages.Holding>(Hold); // a node that answered the rebuild late
        Receive<ClusterMessages.Reconcile>(OnReconcile);
        Receive<Terminated>(OnTerminated);
        Receive<RebuildWaitOver>(_ => { });
    }

    private static Address AddressOf(IActorRef actor)
    {
        var address = actor.Path.Address;
        return address.HasLocalScope ? Akka.Cluster.Cluster.Get(Context.System).SelfAddress : address;
    }

    private void Hold(ClusterMessages.Holding holding)
    {
        foreach (var held in holding.Names)
        {
            if (PeerNames.Validate(held.Name) is not null) continue;
            var key = PeerNames.Key(held.Name);
            var shape = PeerNames.ShapeKey(held.Name);
            if (_byKey.ContainsKey(key) || _byShape.ContainsKey(shape)) continue; // first holder wins; cannot happen unless a node was cut off
            Add(new Entry(held.Name, key, shape, held.Identity, Sender, held.Claim));
        }
    }

    private void OnClaim(ClusterMessages.Claim claim)
    {
        if (PeerNames.Validate(claim.Name) is { } invalid)
        {
            Sender.Tell(new ClusterMessages.ClaimAnswer(claim.Request, false, $"invalid name: {invalid}"));
            return;
        }
        var key = PeerNames.Key(claim.Name);
        var shape = PeerNames.ShapeKey(claim.Name);
        if (_byKey.TryGetValue(key, out var existing) || _byShape.TryGetValue(shape, out existing))
        {
            var sameClient = existing.Name == claim.Name && CryptographicOperations.FixedTimeEquals(existing.Identity, claim.Identity);
            if (!sameClient)
            {
                var reason = string.Equals(claim.Name, existing.Name, StringComparison.OrdinalIgnoreCase)
                    ? $"name '{existing.Name}' is already taken"
                    : $"name '{claim.Name}' looks like '{existing.Name}', who is online";
                Sender.Tell(new ClusterMessages.ClaimAnswer(claim.Request, false, reason));
                return;
            }
            Remove(existing);
            // The same client, back on another node (or reconnected before its old node noticed): its old session ends.
            if (!existing.Owner.Equals(Sender)) existing.Owner.Tell(new ClusterMessages.Takeover(existing.Name));
        }
        Add(new Entry(claim.Name, key, shape, claim.Identity, Sender, claim.Request));
        Sender.Tell(new ClusterMessages.ClaimAnswer(claim.Request, true, ""));
    }

    private void OnRelease(ClusterMessages.Release release)
    {
        if (PeerNames.Validate(release.Name) is not null) return;
        // Only the grant it names: a later grant of the same name to the same client (a retry) stays.
        if (_byKey.TryGetValue(PeerNames.Key(release.Name), out var entry) && entry.Owner.Equals(Sender) && entry.Claim == release.Claim
            && CryptographicOperations.FixedTimeEquals(entry.Identity, release.Identity))
            Remove(entry);
    }

    /// <summary>A node's full list: what we hold for it and it does not list (a lost Release) is freed, unless granted
    /// for a claim newer than the list; what it lists and nobody holds is taken back.</summary>
    private void OnReconcile(ClusterMessages.Reconcile reconcile)
    {
        if (!_reconciling.TryGetValue(Sender, out var listed)) _reconciling[Sender] = listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var held in reconcile.Names)
        {
            if (PeerNames.Validate(held.Name) is not null) continue;
            listed.Add(PeerNames.Key(held.Name));
        }
        Hold(new ClusterMessages.Holding(reconcile.Names, reconcile.Last));
        if (!reconcile.Last) return;
        _reconciling.Remove(Sender);
        var stale = _byKey.Values.Where(e => e.Owner.Equals(Sender) && e.Claim <= reconcile.UpTo && !listed.Contains(e.Key)).ToList();
        foreach (var entry in stale) Remove(entry);
        if (stale.Count > 0) _log.Info("name directory: {0} names of {1} freed on reconciliation", stale.Count, Sender.Path.Address);
    }

    private void OnTerminated(Terminated terminated)
    {
        _owners.Remove(terminated.ActorRef);
        _reconciling.Remove(terminated.ActorRef);
        var gone = _byKey.Values.Where(e => e.Owner.Equals(terminated.ActorRef)).ToList();
        foreach (var entry in gone) Remove(entry);
        if (gone.Count > 0) _log.Info("name directory: {0} names freed, their node is gone ({1})", gone.Count, terminated.ActorRef.Path.Address);
        if (_awaiting.Remove(AddressOf(terminated.ActorRef)) && _awaiting.Count == 0) Ready();
    }

    private void Add(Entry entry)
    {
        _byKey[entry.Key] = entry;
        _byShape[entry.Shape] = entry;
        if (_owners.Add(entry.Owner)) Context.Watch(entry.Owner);
    }

    private void Remove(Entry entry)
    {
        _byKey.Remove(entry.Key);
        _byShape.Remove(entry.Shape);
    }
}
