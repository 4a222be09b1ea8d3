namespace AkkaTcpTransfer.Server.Federation;

/// <summary>Marks a message of the server that may travel to another server node of a cluster (a relayed frame, a
/// chat line's answer, a session's presence). A single server never serializes one; a cluster plugin binds a
/// serializer to this interface.</summary>
internal interface ICrossNodeMessage;
