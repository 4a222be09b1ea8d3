using AkkaTcpTransfer.Security;

namespace AkkaTcpTransfer.Hosting;

/// <summary>A node could not start: the server cannot bind or has no identity, the client cannot connect, does not
/// trust the server, or was refused. <see cref="Exception.Message"/> is one line fit to show a user.</summary>
public sealed class NodeStartException : Exception
{
    public NodeStartException(StartFailure kind, string message, TrustProblem? trust = null, string? fingerprint = null) : base(message)
    {
        Kind = kind;
        Trust = trust;
        ServerFingerprint = fingerprint;
    }

    public StartFailure Kind { get; }

    /// <summary>For <see cref="StartFailure.NotTrusted"/>: why the server's identity was refused.</summary>
    public TrustProblem? Trust { get; }

    /// <summary>For <see cref="StartFailure.NotTrusted"/>: the fingerprint of the key the server presented (to show a
    /// person who may then choose to trust it), if it got that far.</summary>
    public string? ServerFingerprint { get; }
}
