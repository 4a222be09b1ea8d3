using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AkkaTcpTransfer.Transfer.Storage;

/// <summary>Names the partial file of an incoming transfer so that a resend of the same file by the same peer finds
/// it: "&lt;hash of sender and name&gt;-&lt;hash of size and fingerprint&gt;". The first half finds older partials of
/// the same file (a changed file starts over, and its stale partial is removed); the whole names this version.</summary>
internal static class PartialKey
{
    /// <summary>The key of a partial sent by the identity <paramref name="senderId"/> (a digest vouched for by the server
    /// at <paramref name="origin"/>; empty "origin" on the server itself), or, from a peer that stamps no identity, by
    /// the name <paramref name="from"/>.</summary>
    public static string For(string origin, byte[] senderId, string from, string file, long size, long fingerprint)
    {
        ArgumentNullException.ThrowIfNull(senderId);
        var sender = senderId.Length > 0 ? Convert.ToHexStringLower(senderId) : $"name:{from}";
        return For($"{origin}/{sender}", file, size, fingerprint);
    }

    /// <remarks>A folder sent as one transfer ("album/") may be several transfers (one per transfer.folder-max-files
    /// files), all offered under the folder's name: its fingerprint is part of the stem, so that one of them never
    /// takes another's partial for an older version of itself and removes it.</remarks>
    public static string For(string from, string file, long size, long fingerprint) =>
        $"{Stem(from, Protocol.FolderStream.IsFolderOffer(file) ? $"{file}\n{fingerprint.ToString(CultureInfo.InvariantCulture)}" : file)}-{Hash($"{size.ToString(CultureInfo.InvariantCulture)}\n{fingerprint.ToString(CultureInfo.InvariantCulture)}")}";

    public static string Stem(string from, string file) => Hash($"{from.ToUpperInvariant()}\n{file}");

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
}
