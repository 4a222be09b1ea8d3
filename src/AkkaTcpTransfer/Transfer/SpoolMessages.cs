using Akka.Actor;

namespace AkkaTcpTransfer.Transfer;

/// <summary>An upload the server keeps for its recipients (several people, or someone offline): the receiver lands it
/// in <paramref name="Folder"/> (the spool's folder) and tells <paramref name="Spool"/>, which answers once it has
/// recorded the file; only then does the sender hear Verified.</summary>
/// <param name="Token">The spool's name for this upload (and for the space it reserved).</param>
internal sealed record SpoolUpload(IActorRef Spool, long Token, string Folder);

/// <summary>Between a receiver of a spool upload and the spool.</summary>
internal static class SpoolMessages
{
    /// <summary>Receiver -> spool: verified, landed at <paramref name="Path"/> (in the spool's incoming folder).</summary>
    public sealed record Uploaded(long Token, string Path, byte[] Sha256);

    /// <summary>Spool -> receiver: recorded as <paramref name="FileId"/>, kept at <paramref name="Path"/>, for <paramref name="Recipients"/>.</summary>
    public sealed record Kept(string FileId, string Path, int Recipients);

    /// <summary>Spool -> receiver: not recorded (why); the sender hears Fail.</summary>
    public sealed record KeepFailed(string Reason);

    /// <summary>Receiver -> spool, when it stops without the spool having kept its upload: the reservation goes back.</summary>
    public sealed record UploadEnded(long Token);
}
