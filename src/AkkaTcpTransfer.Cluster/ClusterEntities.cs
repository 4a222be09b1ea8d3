using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Server.Accounts;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cluster;

/// <summary>A cluster node's way to the persistent entities all nodes share: rooms and accounts as sharded entities
/// (Akka.Cluster.Sharding: one incarnation of each in the whole cluster, moved when its node leaves), the name registry
/// and the list of rooms as singletons (on the oldest node, handed over when it leaves), each singleton under a backoff
/// supervisor like a single server's. The journal is the database the nodes share (PostgreSQL, or one SQLite file for
/// nodes on one machine).</summary>
internal static class ClusterEntities
{
    /// <summary>Shards per entity kind: about ten per node of the largest cluster expected (the sharding guide's rule),
    /// fixed for the cluster's life.</summary>
    public const int Shards = 100;

    public static (ServerEntities Entities, IReadOnlyDictionary<IActorRef, string> KeyParts) Start(IActorContext context, NodeSettings settings)
    {
        var system = context.System;
        var directory = context.ActorOf(ClusterSingletonProxy.Props("/user/server/room-list", ClusterSingletonProxySettings.Create(system)),
            "room-list-proxy");
        var sharding = ClusterSharding.Get(system);
        var shardSettings = ClusterShardingSettings.Create(system);
        IActorRef rooms = ActorRefs.Nobody;
        // An entity handed to another node (its node leaves, shards rebalance) gets the same stop as an idle one: it saves
        // a snapshot on the way, so that it recovers quickly where it goes.
        var allocation = sharding.DefaultShardAllocationStrategy(shardSettings);
        rooms = sharding.Start("room", id => RoomActor.Props(id, settings, directory, ShardPassivation.Instance), shardSettings, Extractor,
            allocation, EntityMessages.Stop.Instance);
        var accounts = sharding.Start("user", id => AccountActor.Props(id, settings, rooms, directory, ShardPassivation.Instance), shardSettings,
            Extractor, allocation, EntityMessages.Stop.Instance);
        context.ActorOf(ClusterSingletonManager.Props(LocalEntities.Restarting(RoomDirectoryActor.Props(settings, rooms), "room-list"),
            PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system)), "room-list");
        context.ActorOf(ClusterSingletonManager.Props(
            LocalEntities.Restarting(NameRegistryActor.Props(settings.Names, settings.History.SnapshotEvery, accounts), "names"),
            PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system)), "names");
        var names = context.ActorOf(ClusterSingletonProxy.Props("/user/server/names", ClusterSingletonProxySettings.Create(system)), "names-proxy");
        return (new ServerEntities(names, rooms, directory, accounts), new Dictionary<IActorRef, string>
        {
            [rooms] = "room shards",
            [accounts] = "account shards",
            [directory] = "list of rooms",
            [names] = "name registry",
        });
    }

    private static readonly IMessageExtractor Extractor = HashCodeMessageExtractor.Create(Shards,
        message => message is EntityEnvelope envelope ? envelope.EntityId : null!,
        message => message is EntityEnvelope envelope ? envelope.Message : message);

    /// <summary>An idle entity leaves memory through its shard, which holds the messages that come meanwhile.</summary>
    private sealed class ShardPassivation : IPassivation
    {
        public static readonly ShardPassivation Instance = new();

        public void Passivate(IActorContext context) => context.Parent.Tell(new Passivate(EntityMessages.Stop.Instance));
    }
}
