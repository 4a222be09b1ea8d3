using System.Security.Cryptography;
using System.Text;

namespace AkkaTcpTransfer.Cluster;

/// <summary>What nodes compare before they share clients: the same token, shown to each other only as a digest.</summary>
public static class ClusterKeys
{
    public static byte[] TokenKey(string token) =>
        SHA256.HashData(Encoding.UTF8.GetBytes("akka-tcp-transfer cluster token\0" + token));

    /// <summary>Why a node with these values may not share clients with ours; null when it may.</summary>
    public static string? Mismatch(int ourVersion, byte[] ourKey, int theirVersion, byte[] theirKey)
    {
        if (ourVersion != theirVersion) return $"it speaks protocol version {theirVersion}, this node {ourVersion}";
        return CryptographicOperations.FixedTimeEquals(ourKey, theirKey) ? null : "it was started with a different token";
    }
}
