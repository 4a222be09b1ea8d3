using System.Security.Cryptography;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Server.Sessions;

/// <summary>Who a client is, as opposed to what it is called: the holder of a resume key. A client keeps its key in its
/// state folder and presents it in every Hello; the server never stores keys, it derives from each one a short digest
/// (<see cref="Of"/>) that names the person in <c>Offer.sender_id</c> and in partial files, and reveals nothing of the
/// key.</summary>
internal static class ClientIdentity
{
    private static readonly byte[] Label = "akka-tcp-transfer identity\n"u8.ToArray();

    /// <summary>A fresh key for a client that presented none.</summary>
    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(32);

    /// <summary>The 16-byte identity digest of <paramref name="resumeKey"/>.</summary>
    public static byte[] Of(ReadOnlySpan<byte> resumeKey)
    {
        Span<byte> input = stackalloc byte[Label.Length + resumeKey.Length];
        Label.CopyTo(input);
        resumeKey.CopyTo(input[Label.Length..]);
        return SHA256.HashData(input)[..ProtocolLimits.SenderIdLength];
    }

    /// <summary>Null when <paramref name="resumeKey"/> is acceptable in a Hello (empty, or 16 to 64 bytes), else why not.</summary>
    public static string? Validate(ReadOnlySpan<byte> resumeKey) =>
        resumeKey.Length is 0 or (>= ProtocolLimits.MinResumeKeyLength and <= ProtocolLimits.MaxResumeKeyLength)
            ? null
            : $"a resume key is empty or {ProtocolLimits.MinResumeKeyLength} to {ProtocolLimits.MaxResumeKeyLength} bytes, not {resumeKey.Length}";
}
