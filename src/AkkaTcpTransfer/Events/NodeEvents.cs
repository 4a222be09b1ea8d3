namespace AkkaTcpTransfer.Events;

// The observable contract of a node: everything notable is published on the ActorSystem's EventStream as one of
// these immutable records. Subscribe to NodeEvent for all of them, or to one type. The command-line program's
// --json output is a direct rendering of them (event names in comments; see README "Events").

/// <summary>Base of every event this library publishes.</summary>
public abstract record NodeEvent;

/// <summary><c>listening</c>: the server is bound; <paramref name="Port"/> is the real port, also when 0 was asked for.</summary>
public sealed record Listening(string Host, int Port) : NodeEvent;

/// <summary><c>connected</c>: the client completed the handshake with the server named <paramref name="Server"/>.</summary>
public sealed record Connected(string Server, string Name) : NodeEvent;

/// <summary><c>disconnected</c>: the client lost its connection. <paramref name="WillReconnect"/> says whether it
/// is trying again.</summary>
public sealed record Disconnected(string Reason, bool WillReconnect) : NodeEvent;

/// <summary><c>peer-joined</c>: someone came online (published on the server and on every other client).</summary>
public sealed record PeerJoined(string Name) : NodeEvent;

/// <summary><c>peer-left</c>: someone went offline.</summary>
public sealed record PeerLeft(string Name) : NodeEvent;

/// <summary><c>who</c>: the answer to a Who command: everyone online, the server first.</summary>
public sealed record WhoListed(IReadOnlyList<string> Names) : NodeEvent;

/// <summary><c>chat</c>: a message this node received. <paramref name="To"/> is null for a message to everyone,
/// else the recipient's name (this node's). <paramref name="At"/> is the server's time stamp.</summary>
public sealed record ChatReceived(string From, string? To, string Text, DateTimeOffset At) : NodeEvent;

/// <summary><c>error</c>: something this node tried failed, or a peer told it so; the node carries on.</summary>
public sealed record ErrorOccurred(string Message) : NodeEvent;

/// <summary><c>error</c>, and the end of a client: the server refused the handshake (bad token, name taken...).
/// A refused client does not reconnect.</summary>
public sealed record ConnectionRefused(string Reason) : NodeEvent;
