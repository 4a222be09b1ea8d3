using Akka.Actor;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Chat;

/// <summary>Between the server's per-client <see cref="PeerActor"/>s, the server itself and the
/// <see cref="SessionRegistryActor"/>.</summary>
public static class SessionMessages
{
    /// <summary>Peer to registry: claim <paramref name="Name"/>. The sender is the peer actor; its frames go to
    /// <paramref name="Connection"/>. Answered with <see cref="Joined"/> or <see cref="JoinRefused"/>.</summary>
    public sealed record Join(string Name, byte[] ResumeKey, IActorRef Connection, int PeerMaxFrameLength);

    /// <summary>Registry to peer: you are in (the registry has sent the Welcome).</summary>
    public sealed record Joined(string Name);

    public sealed record JoinRefused(WireCode Code, string Reason);

    /// <summary>Registry to an older peer actor: the same client reconnected with its resume key; close.</summary>
    public sealed record Replaced
    {
        public static readonly Replaced Instance = new();
        private Replaced() { }
    }

    /// <summary>A chat message from <paramref name="From"/> (a peer or the server) to everyone
    /// (<paramref name="To"/> empty) or to one name. A failure is answered with <see cref="SayFailed"/>.</summary>
    public sealed record Say(string From, string To, string Text);

    public sealed record SayFailed(WireCode Code, string Reason);

    /// <summary>Answered with <see cref="WhoResult"/>: everyone online, the server first (trimmed to fit the asker's frames).</summary>
    public sealed record Who
    {
        public static readonly Who Instance = new();
        private Who() { }
    }

    public sealed record WhoResult(IReadOnlyList<string> Names);

    /// <summary>Find the peer actor of <paramref name="Name"/>; answered with <see cref="LookupResult"/> carrying
    /// <paramref name="Tag"/> back.</summary>
    public sealed record Lookup(string Name, object Tag);

    /// <summary><paramref name="Peer"/> is null when nobody of that name is online.</summary>
    public sealed record LookupResult(string Name, IActorRef? Peer, object Tag);

    /// <summary>Peer to registry: my connection is gone; announce my leaving now (the actor may live on briefly
    /// while its transfers wind down).</summary>
    public sealed record Leave
    {
        public static readonly Leave Instance = new();
        private Leave() { }
    }
}
