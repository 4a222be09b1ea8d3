using Akka.Actor;
using AkkaTcpTransfer.Server.Federation;

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
    public sealed record Join(string Room, string Identity, string Name, IActorRef Peer, IActorRef Connection, bool Rejoin, IActorRef Account) : ICrossNodeMessage;

    /// <summary>Account -> directory: <paramref name="Join"/>, for a room that may not exist yet.</summary>
    public sealed record Open(Join Join) : ICrossNodeMessage;

    // ---- account -> room

    public sealed record Leave(string Room, string Identity, string Name, IActorRef Peer, IActorRef Connection, IActorRef Account) : ICrossNodeMessage;

    /// <summary>To the session that asked: its join or leave of <paramref name="Room"/> is over, one way or the other (the
    /// client heard how); requests it sent after it may go now.</summary>
    public sealed record Settled(string Room) : ICrossNodeMessage;

    // ---- peer -> room

    /// <summary>A line to the room: answered to the sender (the peer) with SayDone, SayFailed or SayDeferred.
    /// <paramref name="Origin"/>: the asking session's, so that a request asked again is stored once (<see cref="Lines.RecentLines"/>).</summary>
    public sealed record Say(uint Id, string Room, string Identity, string From, string Text, string Origin = "") : ICrossNodeMessage;

    public sealed record SetTopic(string Room, string Identity, string By, string Topic, IActorRef Connection) : ICrossNodeMessage;

    public sealed record Members(string Room, IActorRef Connection, int Budget) : ICrossNodeMessage;

    /// <summary>Spool -> room: is <paramref name="Identity"/> a member, and who are the members (names and identities)?
    /// Answered with <see cref="RosterIs"/>.</summary>
    public sealed record Roster(long Token, string Room, string Identity);

    /// <summary><paramref name="Room"/> as the room spells it; <paramref name="Member"/>: the asker is a member (false,
    /// with no members, for a room that does not exist).</summary>
    /// <param name="OpenedMs">When this room was opened (a room closed and opened again is another room).</param>
    public sealed record RosterIs(long Token, string Room, bool Member, IReadOnlyList<(string Name, string Identity)> Members, long OpenedMs);

    /// <summary>Which lines to send for a history request (answered with <see cref="HistoryRange"/>, or a refusal to
    /// <paramref name="Connection"/>).</summary>
    public sealed record History(string Room, string Identity, long Before, int Count, IActorRef Connection) : ICrossNodeMessage;

    /// <summary>Events <paramref name="From"/>..<paramref name="To"/> of <paramref name="PersistenceId"/> hold the
    /// page; <paramref name="More"/>: older lines are kept.</summary>
    public sealed record HistoryRange(string Target, string PersistenceId, long From, long To, bool More) : ICrossNodeMessage;

    // ---- room -> account

    /// <summary>The identity is a member of <paramref name="Room"/> (the room's own spelling).</summary>
    public sealed record Entered(string Room) : ICrossNodeMessage;

    /// <summary>The identity is no longer a member of <paramref name="Room"/>.</summary>
    public sealed record Exited(string Room) : ICrossNodeMessage;

    /// <summary>A join of <paramref name="Room"/> was refused (the client heard why): not a member.</summary>
    public sealed record NotEntered(string Room) : ICrossNodeMessage;

    // ---- the server-wide room, for the session registry

    /// <summary>Store a line of the server-wide room: answered with <see cref="Stored"/> or <see cref="NotStored"/>.</summary>
    /// <paramref name="Key"/>: the line's <see cref="Lines.RecentLines"/> key ("" for the server's own lines).
    public sealed record StoreLine(uint Id, string From, string Text, long AtMs, string Key = "") : ICrossNodeMessage;

    /// <summary>The line is stored as the room's event <paramref name="Seq"/>. <paramref name="Repeat"/>: it had been
    /// stored (and passed on) before, for an earlier request of the same line; pass it on no more.</summary>
    public sealed record Stored(uint Id, long AtMs, long Seq, bool Repeat = false) : ICrossNodeMessage;

    public sealed record NotStored(uint Id, Protocol.WireCode Code, string Reason) : ICrossNodeMessage;

    /// <summary>Send the server-wide room's recent lines said before <paramref name="BeforeMs"/> (when the client
    /// arrived; later ones reach it live) to a client that just joined, then tell the sender <see cref="ScrollbackSent"/>.</summary>
    public sealed record Scrollback(IActorRef Connection, long BeforeMs) : ICrossNodeMessage;

    /// <summary>The recent lines said before <paramref name="BeforeMs"/> and stored as events up to
    /// <paramref name="UpTo"/> went to <paramref name="Connection"/>; any other line is one of its live lines.</summary>
    public sealed record ScrollbackSent(IActorRef Connection, long BeforeMs, long UpTo) : ICrossNodeMessage;

    // ---- room -> directory, directory -> client

    /// <summary>A room's entry in the list changed (<paramref name="Open"/> false: it has no members left and is gone).</summary>
    public sealed record Summary(string Room, int Members, string Topic, bool Open) : ICrossNodeMessage;

    public sealed record List(IActorRef Connection, int Budget) : ICrossNodeMessage;

    /// <summary>Enforce retention now (the directory asks every room now and then, so that idle rooms are kept to their
    /// limits too).</summary>
    public sealed class Retain : ICrossNodeMessage
    {
        public static readonly Retain Instance = new();
        private Retain() { }
    }
}
