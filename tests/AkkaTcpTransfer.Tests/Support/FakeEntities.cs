using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Rooms;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>Stand-ins for the server's persistent entities, for tests of the session registry alone: every name is free
/// and registered at once, every line of the server-wide room is stored at once; nothing is kept.</summary>
internal static class FakeEntities
{
    private sealed class Names : ReceiveActor
    {
        public Names() => Receive<NameMessages.Use>(u => Sender.Tell(new NameMessages.UseAnswer(u.Request, true, true, "")));
    }

    private sealed class Rooms : ReceiveActor
    {
        public Rooms()
        {
            Receive<EntityEnvelope>(e => e.Message is RoomMessages.StoreLine, e =>
            {
                var line = (RoomMessages.StoreLine)e.Message;
                Sender.Tell(new RoomMessages.Stored(line.Id, line.AtMs, line.Id));
            });
            Receive<EntityEnvelope>(e => e.Message is RoomMessages.Scrollback, e =>
                Sender.Tell(new RoomMessages.ScrollbackSent(((RoomMessages.Scrollback)e.Message).Connection, 0, 0)));
            ReceiveAny(_ => { });
        }
    }

    public static ServerEntities Start(ActorSystem system)
    {
        var rooms = system.ActorOf(Props.Create(() => new Rooms()));
        return new ServerEntities(system.ActorOf(Props.Create(() => new Names())), rooms, rooms, rooms);
    }
}
