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

    [Fact]
    public void With_a_ca_a_node_accepts_the_peers_that_ca_issued_and_no_other()
    {
        var folder = Directory.CreateTempSubdirectory("att-cluster-ca-").FullName;
        using var ca = new TestCa(Directory.CreateDirectory(Path.Combine(folder, "ca")).FullName);
        using var otherCa = new TestCa(Directory.CreateDirectory(Path.Combine(folder, "other")).FullName);
        var now = DateTimeOffset.UtcNow;
        var (mine, myKey) = ca.Issue("a", ["node-a"], now.AddDays(-1), now.AddYears(1), node: true);
        var (peer, _) = ca.Issue("b", ["node-b"], now.AddDays(-1), now.AddYears(1), node: true);
        var (lapsed, _) = ca.Issue("old", ["node-old"], now.AddDays(-10), now.AddDays(-1), node: true);
        var (stranger, strangerKey) = otherCa.Issue("x", ["node-x"], now.AddDays(-1), now.AddYears(1), node: true);
        var (pinned, _) = TestNodes.NewClusterKey();

        using var identity = ClusterIdentity.Load(mine, myKey, ca.RootFile);
        Assert.True(identity.VouchedByCa);
        using (var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(peer))) Assert.Null(identity.Check(certificate));
        foreach (var refused in new[] { stranger, pinned })
        {
            using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(refused));
            Assert.Contains("is not issued by this cluster's CA", identity.Check(certificate), StringComparison.Ordinal);
        }
        using (var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(lapsed)))
            Assert.Contains("expired on", identity.Check(certificate), StringComparison.Ordinal);

        // A node whose own certificate the CA did not issue does not start: it would be refused by every peer.
        var own = Assert.Throws<IdentityException>(() => ClusterIdentity.Load(stranger, strangerKey, ca.RootFile));
        Assert.Contains("is not issued by the cluster's CA", own.Message, StringComparison.Ordinal);
        var empty = Path.Combine(folder, "empty.pem");
        File.WriteAllText(empty, "");
        Assert.Contains("holds no certificate", Assert.Throws<IdentityException>(() => ClusterIdentity.Load(mine, myKey, empty)).Message, StringComparison.Ordinal);
    }
}
