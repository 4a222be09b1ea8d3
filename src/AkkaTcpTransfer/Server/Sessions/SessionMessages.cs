using Akka.Actor;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Transfer;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Server.Sessions;

/// <summary>Between the server's per-client <see cref="PeerActor"/>s, the server itself and the
/// <see cref="SessionRegistryActor"/>.</summary>
internal static class SessionMessages
{
    /// <summary>Peer to registry: claim <paramref name="Name"/>. The sender is the peer actor; its frames go to
    /// <paramref name="Connection"/>. <paramref name="ResumeKey"/> is the client's (already validated), or empty for a
    /// new one. Answered with <see cref="Joined"/> or <see cref="JoinRefused"/>.</summary>
    public sealed record Join(string Name, byte[] ResumeKey, IActorRef Connection, int PeerMaxFrameLength);

    /// <summary>Registry to peer: you are in (the registry has sent the Welcome). <paramref name="Identity"/> is the
    /// client's identity digest (<see cref="ClientIdentity.Of"/>).</summary>
    public sealed record Joined(string Name, byte[] Identity);

    public sealed record JoinRefused(WireCode Code, string Reason);

    /// <summary>Registry to an older peer actor: the same client reconnected with its resume key; close.</summary>
    public sealed record Replaced
    {
        public static readonly Replaced Instance = new();
        private Replaced() { }
    }

    /// <summary>A chat line from the sending peer (or the server) to everyone (<paramref name="To"/> empty) or to one
    /// name. Answered with exactly one of the <see cref="Lines.LineAnswers"/>, carrying <paramref name="Id"/> (the
    /// sender's number for the line).</summary>
    public sealed record Say(uint Id, string To, string Text, string Origin = "");

    /// <summary>Answered with <see cref="WhoResult"/>: everyone online, the server first (trimmed to fit the asker's frames).</summary>
    public sealed record Who
    {
        public static readonly Who Instance = new();
        private Who() { }
    }

    public sealed record WhoResult(IReadOnlyList<string> Names);

    /// <summary>A client's offer to another client: answered with <see cref="OfferRecipient"/>.</summary>
    public sealed record FindOfferRecipient(Offer Offer);

    /// <summary>Spool -> registry: who of these is online here (<see cref="FoundMany"/>).</summary>
    public sealed record FindMany(long Token, IReadOnlyList<string> Names);

    /// <summary>One asked name: its holder as spelled, identity (32 hex digits) and session here, or Peer null when
    /// nobody online holds it.</summary>
    public sealed record FoundName(string Asked, string Name, string Identity, IActorRef? Peer, IActorRef? Connection);

    public sealed record FoundMany(long Token, IReadOnlyList<FoundName> Names);

    /// <summary>Spool -> registry, after the spool (re)started: everyone online here, as <see cref="FoundMany"/> with token 0.</summary>
    public sealed record ListOnline
    {
        public static readonly ListOnline Instance = new();
        private ListOnline() { }
    }

    /// <summary><paramref name="Peer"/> is null when nobody called <c>Offer.To</c> is online; else
    /// <paramref name="Name"/> is the recipient's name as registered and <paramref name="MaxFrame"/> its frame limit.</summary>
    public sealed record OfferRecipient(Offer Offer, string Name, IActorRef? Peer, int MaxFrame);

    /// <summary>The server sends a file to a client: answered with <see cref="SendRecipient"/>.</summary>
    public sealed record FindSendRecipient(TransferMessages.StartSend Spec);

    /// <summary><paramref name="Peer"/> is null when the file cannot go: nobody of that name is online, or
    /// <paramref name="Reason"/> says why.</summary>
    public sealed record SendRecipient(TransferMessages.StartSend Spec, string Name, IActorRef? Peer, string? Reason = null);

    /// <summary>Peer to registry: my connection is gone; announce my leaving now (the actor may live on briefly
    /// while its transfers wind down).</summary>
    public sealed record Leave
    {
        public static readonly Leave Instance = new();
        private Leave() { }
    }

    /// <summary>Registry to peer, in answer to <see cref="Leave"/>: nothing more will be sent to its connection.</summary>
    public sealed record Left
    {
        public static readonly Left Instance = new();
        private Left() { }
    }
}
