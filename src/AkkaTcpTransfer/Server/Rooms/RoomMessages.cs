using Akka.Actor;

namespace AkkaTcpTransfer.Server.Rooms;

/// <summary>What rooms (<see cref="RoomActor"/>, one entity per room) and the list of rooms
/// (<see cref="RoomDirectoryActor"/>) are told and answer. A member is an identity (32 hex digits) with the name it
/// goes by; a member online has a session (its peer actor) and a connection, which the room writes frames to.</summary>
internal static class RoomMessages
{
    // ---- account -> directory -> room

    /// <summary>Make <paramref name="Identity"/> a member of <paramref name="Room"/> (created if need be), or, with
    /// <paramref name="Rejoin"/>, attach a member that just connected: either way it hears <c>RoomJoined</c> and the
    /// room's recent lines, then live lines. The room answers <paramref name="Account"/> with <see cref="Entered"/>.</summary>
    public sealed record Join(string Room, string Identity, string Name, IActorRef Peer, IActorRef Connection, bool Rejoin, IActorRef Account);

    /// <summary>Account -> directory: <paramref name="Join"/>, for a room that may not exist yet.</summary>
    public sealed record Open(Join Join);

    // ---- account -> room

    public sealed record Leave(string Room, string Identity, string Name, IActorRef Connection, IActorRef Account);

    // ---- peer -> room

    /// <summary>A line to the room: answered to the sender (the peer) with SayDone, SayFailed or SayDeferred.</summary>
    public sealed record Say(uint Id, string Room, string Identity, string From, string Text);

    public sealed record SetTopic(string Room, string Identity, string By, string Topic, IActorRef Connection);

    public sealed record Members(string Room, IActorRef Connection, int Budget);

    /// <summary>Which lines to send for a history request (answered with <see cref="HistoryRange"/>, or a refusal to
    /// <paramref name="Connection"/>).</summary>
    public sealed record History(string Room, string Identity, long Before, int Count, IActorRef Connection);

    /// <summary>Events <paramref name="From"/>..<paramref name="To"/> of <paramref name="PersistenceId"/> hold the
    /// page; <paramref name="More"/>: older lines are kept.</summary>
    public sealed record HistoryRange(string Target, string PersistenceId, long From, long To, bool More);

    // ---- room -> account

    /// <summary>The identity is a member of <paramref name="Room"/> (the room's own spelling).</summary>
    public sealed record Entered(string Room);

    /// <summary>The identity is no longer a member of <paramref name="Room"/>.</summary>
    public sealed record Exited(string Room);

    /// <summary>A join of <paramref name="Room"/> was refused (the client heard why): not a member.</summary>
    public sealed record NotEntered(string Room);

    // ---- the server-wide room, for the session registry

    /// <summary>Store a line of the server-wide room: answered with <see cref="Stored"/> or <see cref="NotStored"/>.</summary>
    public sealed record StoreLine(uint Id, string From, string Text, long AtMs);

    public sealed record Stored(uint Id, long AtMs);

    public sealed record NotStored(uint Id, Protocol.WireCode Code, string Reason);

    /// <summary>Send the server-wide room's recent lines to a client that just joined.</summary>
    public sealed record Scrollback(IActorRef Connection);

    // ---- room -> directory, directory -> client

    /// <summary>A room's entry in the list changed (<paramref name="Open"/> false: it has no members left and is gone).</summary>
    public sealed record Summary(string Room, int Members, string Topic, bool Open);

    public sealed record List(IActorRef Connection, int Budget);

    /// <summary>Enforce retention now (the directory asks every room now and then, so that idle rooms are kept to their
    /// limits too).</summary>
    public sealed class Retain
    {
        public static readonly Retain Instance = new();
        private Retain() { }
    }
}
