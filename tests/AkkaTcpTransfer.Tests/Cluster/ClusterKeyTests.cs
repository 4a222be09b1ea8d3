using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>What a node accepts as a fellow node's certificate: the cluster's key, in date; and that it will not start
/// with an expired one of its own.</summary>
public sealed class ClusterKeyTests
{
    /// <summary>A certificate for the key in <paramref name="keyFile"/>, valid from <paramref name="from"/> to
    /// <paramref name="to"/>.</summary>
    private static X509Certificate2 SameKey(string keyFile, DateTimeOffset from, DateTimeOffset to)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(keyFile));
        var request = new CertificateRequest("CN=akka-tcp-transfer cluster", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(from, to);
    }

    [Fact]
    public void A_peer_is_accepted_only_with_the_cluster_key_and_in_date()
    {
        var (certificate, key) = TestNodes.NewClusterKey();
        var (otherCertificate, _) = TestNodes.NewClusterKey();
        using var identity = ClusterIdentity.Load(certificate, key);
        using var same = X509Certificate2.CreateFromPem(File.ReadAllText(certificate));
        using var other = X509Certificate2.CreateFromPem(File.ReadAllText(otherCertificate));
        var now = DateTimeOffset.UtcNow;
        using var expired = SameKey(key, now.AddDays(-10), now.AddDays(-1));
        using var early = SameKey(key, now.AddDays(1), now.AddDays(10));

        Assert.Null(identity.Check(same));
        Assert.Contains("another cluster key", identity.Check(other), StringComparison.Ordinal);
        Assert.Contains("presented no certificate", identity.Check(null), StringComparison.Ordinal);
        Assert.Contains("expired on", identity.Check(expired), StringComparison.Ordinal);
        Assert.Contains("is not valid before", identity.Check(early), StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_does_not_start_with_an_expired_cluster_certificate()
    {
        var (_, key) = TestNodes.NewClusterKey();
        var now = DateTimeOffset.UtcNow;
        using var expired = SameKey(key, now.AddDays(-10), now.AddDays(-1));
        var file = Path.Combine(Path.GetDirectoryName(key)!, "expired.pem");
        File.WriteAllText(file, expired.ExportCertificatePem());
        var refused = Assert.Throws<IdentityException>(() => ClusterIdentity.Load(file, key));
        Assert.Contains("expired on", refused.Message, StringComparison.Ordinal);
        Assert.Contains("akka-tcp-transfer cluster-key", refused.Message, StringComparison.Ordinal);
    }
}
