using System.Security.Cryptography;
using System.Text;

namespace AkkaTcpTransfer.Cluster;

/// <summary>What nodes compare before they share clients: the same token, shown to each other only as a digest.</summary>
internal static class ClusterKeys
{
    public static byte[] TokenKey(string token) =>
        SHA256.HashData(Encoding.UTF8.GetBytes("akka-tcp-transfer cluster token\0" + token));

    /// <summary>Why a node with these values may not share clients with ours; null when it may.</summary>
    /// <param name="ourStore">The id of the database this node uses (made when the database was created).</param>
    public static string? Mismatch(int ourVersion, byte[] ourKey, string ourStore, int theirVersion, byte[] theirKey, string theirStore)
    {
        if (ourVersion != theirVersion) return $"it speaks protocol version {theirVersion}, this node {ourVersion}";
        if (!CryptographicOperations.FixedTimeEquals(ourKey, theirKey)) return "it was started with a different token";
        return ourStore == theirStore ? null
            : "it uses another database than this node: the nodes of a cluster share one (store.postgres, or one store.sqlite-file for nodes on one machine)";
    }
}
