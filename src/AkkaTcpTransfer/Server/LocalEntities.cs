using Akka.Actor;
using Akka.Pattern;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Accounts;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Server;

/// <summary>A single server's persistent entities, as children of the server root: the name registry and the list of
/// rooms (each under a backoff supervisor: one whose database write failed stops, and starts again after a pause,
/// recovering from the database), and the hosts of rooms and accounts (whose entities start on their first message).</summary>
internal static class LocalEntities
{
    /// <summary>Starts them in <paramref name="context"/>; returns where they are reached and which of them the server
    /// cannot work without (with what to call each when one fails).</summary>
    public static (ServerEntities Entities, IReadOnlyDictionary<IActorRef, string> KeyParts) Start(IActorContext context, NodeSettings settings)
    {
        IActorRef directory = ActorRefs.Nobody;
        IActorRef rooms = ActorRefs.Nobody;
        // The hosts make their entities on first use, by which time every reference below is set.
        rooms = context.ActorOf(EntityHostActor.Props((id, passivation) => RoomActor.Props(id, settings, directory, passivation)), "rooms");
        var accounts = context.ActorOf(EntityHostActor.Props((id, passivation) => AccountActor.Props(id, settings, rooms, directory, passivation)), "accounts");
        directory = context.ActorOf(Restarting(RoomDirectoryActor.Props(settings, rooms), "room-list"), "room-list");
        var names = context.ActorOf(Restarting(NameRegistryActor.Props(settings.Names, settings.History.SnapshotEvery, accounts), "names"), "names");
        return (new ServerEntities(names, rooms, directory, accounts), new Dictionary<IActorRef, string>
        {
            [rooms] = "room host",
            [accounts] = "account host",
            [directory] = "list of rooms",
            [names] = "name registry",
        });
    }

    /// <summary>A persistent actor that stops when the database fails it comes back after a pause (1 s, doubling to
    /// 30 s), recovering its state; messages sent meanwhile are lost, and their senders' waits run out.</summary>
    public static Props Restarting(Props child, string name) =>
        BackoffSupervisor.Props(Backoff.OnStop(child, name, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1));
}
