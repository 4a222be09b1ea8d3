using Akka.Actor;

namespace AkkaTcpTransfer.Server.Entities;

/// <summary>Where the server's persistent entities are reached: the name registry, the list of rooms, and the hosts
/// of rooms and accounts (<see cref="EntityEnvelope"/>s). On a single server they are children of the server root; in
/// a cluster, one registry and one list for the whole cluster and sharded rooms and accounts.</summary>
/// <param name="Spool">Where files kept for their recipients are (a single server only), or null: none are kept.</param>
internal sealed record ServerEntities(IActorRef Names, IActorRef Rooms, IActorRef RoomDirectory, IActorRef Accounts, IActorRef? Spool = null);
