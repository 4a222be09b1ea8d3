using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AkkaTcpTransfer.Security;

/// <summary>The key every node of one cluster holds: one certificate and private key, made once
/// (<see cref="Create"/>, <c>akka-tcp-transfer cluster-key</c>) and copied to every node. Between nodes, both ends of
/// every connection (Akka.Remote's cluster port and the node links) present it and accept only a peer that presents a
/// certificate for the same public key (<see cref="Check"/>): the key is the cluster's membership card. Host names are
/// not checked; the pin is what matters.</summary>
internal sealed class ClusterIdentity : IDisposable
{
    public const string CertificateFileName = "cluster-certificate.pem";
    public const string KeyFileName = "cluster-key.pem";

    /// <summary>The name a node asks for in the TLS handshake of a node link (nothing checks it).</summary>
    public const string TargetHost = "akka-tcp-transfer-cluster";

    private ClusterIdentity(X509Certificate2 certificate, string certificateFile, X509Certificate2Collection? authorities, string? authorityFile)
    {
        Certificate = certificate;
        CertificateFile = certificateFile;
        Fingerprint = Security.Fingerprint.Of(certificate);
        _authorities = authorities;
        _authorityFile = authorityFile;
        Context = SslStreamCertificateContext.Create(certificate, [], offline: true);
    }

    /// <summary>The operator's CA certificates when nodes are vouched for by a CA (cluster.ca), not pinned to one key.</summary>
    private readonly X509Certificate2Collection? _authorities;
    private readonly string? _authorityFile;

    public X509Certificate2 Certificate { get; }

    public SslStreamCertificateContext Context { get; }

    /// <summary>SHA-256 of the cluster's public key: what every node pins.</summary>
    public string Fingerprint { get; }

    public string CertificateFile { get; }

    /// <summary>Makes a new cluster key in <paramref name="folder"/> (ECDSA P-256, a self-signed certificate valid ten
    /// years), the key readable by its owner only. Never replaces one that is there.</summary>
    /// <exception cref="IdentityException">It exists already, or cannot be written.</exception>
    public static ClusterIdentity Create(string folder)
    {
        var certFile = Path.Combine(folder, CertificateFileName);
        var keyFile = Path.Combine(folder, KeyFileName);
        if (File.Exists(certFile) || File.Exists(keyFile))
            throw new IdentityException($"{folder} has a cluster key already ({KeyFileName}); move it away to make another (every node then needs the new one)");
        try
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=akka-tcp-transfer cluster", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, 0, critical: true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
            // Every node is a TLS server to some peers and a TLS client to others, with the same certificate.
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication"), new Oid("1.3.6.1.5.5.7.3.2", "Client Authentication")], critical: false));
            var now = DateTimeOffset.UtcNow;
            using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
            PrivateFiles.Write(keyFile, key.ExportPkcs8PrivateKeyPem() + "\n");
            PrivateFiles.Write(certFile, certificate.ExportCertificatePem() + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IdentityException($"cannot write the cluster key to {folder}: {e.Message}", e);
        }
        return Load(certFile, keyFile);
    }

    /// <summary>The cluster key from its two PEM files; with <paramref name="authorityFile"/> (cluster.ca), this node's
    /// own key, issued by one of the CA certificates in that file, which then vouch for every peer instead of a pin.</summary>
    /// <exception cref="IdentityException">They cannot be read, do not match, the certificate has expired, or it is not
    /// issued by the CA.</exception>
    public static ClusterIdentity Load(string certificateFile, string keyFile, string? authorityFile = null)
    {
        X509Certificate2Collection? authorities = null;
        if (authorityFile is not null)
        {
            authorityFile = Path.GetFullPath(authorityFile);
            authorities = [];
            try
            {
                authorities.ImportFromPemFile(authorityFile);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new IdentityException($"cannot read the cluster's CA certificates {authorityFile}: {e.Message}", e);
            }
            if (authorities.Count == 0) throw new IdentityException($"{authorityFile} holds no certificate (cluster.ca: the CA that issues the nodes' certificates)");
        }
        certificateFile = Path.GetFullPath(certificateFile);
        keyFile = Path.GetFullPath(keyFile);
        PrivateFiles.Narrow(keyFile);
        X509Certificate2 certificate;
        try
        {
            using var withKey = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            // Through PKCS#12 and back: SChannel (Windows) refuses a key that only lives in memory.
            certificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new IdentityException($"cannot read the cluster certificate {certificateFile} with key {keyFile}: {e.Message}", e);
        }
        if (Expired(certificate, DateTime.UtcNow) is { } when)
        {
            certificate.Dispose();
            throw new IdentityException($"the cluster certificate {certificateFile} {when}: make a new cluster key (akka-tcp-transfer cluster-key) for every node");
        }
        var identity = new ClusterIdentity(certificate, certificateFile, authorities, authorityFile);
        if (authorities is not null && identity.Chains(certificate) is { } broken)
        {
            identity.Dispose();
            throw new IdentityException($"the cluster certificate {certificateFile} is not issued by the cluster's CA in {authorityFile}: {broken}");
        }
        return identity;
    }

    /// <summary>Peers are vouched for by the operator's CA (cluster.ca), not pinned to this node's key.</summary>
    public bool VouchedByCa => _authorities is not null;

    /// <summary>What every node needs, in words for a refusal.</summary>
    public string Requirement => VouchedByCa
        ? $"every node needs a certificate issued by the cluster's CA ({_authorityFile})"
        : "every node needs the same cluster key";

    /// <summary>Null when <paramref name="peer"/> may be a node of this cluster, else why not, in words for a log line.</summary>
    public string? Check(X509Certificate? peer)
    {
        if (peer is null) return "it presented no certificate (a node without the cluster key, or started with --insecure)";
        X509Certificate2? copy = null;
        var certificate = peer as X509Certificate2 ?? (copy = X509CertificateLoader.LoadCertificate(peer.GetRawCertData()));
        try
        {
            if (Expired(certificate, DateTime.UtcNow) is { } when) return $"its cluster certificate {when}";
            if (_authorities is not null)
                return Chains(certificate) is { } broken ? $"its certificate ({certificate.Subject}) is not issued by this cluster's CA: {broken}" : null;
            var fingerprint = Security.Fingerprint.Of(certificate);
            if (!string.Equals(fingerprint, Fingerprint, StringComparison.Ordinal))
                return $"it presents another cluster key (fingerprint {fingerprint[..16]}…, this cluster's is {Fingerprint[..16]}…)";
            return null;
        }
        finally
        {
            copy?.Dispose();
        }
    }

    /// <summary>Null when <paramref name="certificate"/> chains to one of the CA certificates (and only those: the system's
    /// roots are not asked), else why not. No revocation lists: nodes must work without reaching the internet.</summary>
    private string? Chains(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities!);
        // Intermediate CAs may sit in the same file.
        chain.ChainPolicy.ExtraStore.AddRange(_authorities!);
        if (chain.Build(certificate)) return null;
        var reasons = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct();
        return $"{string.Join("; ", reasons)} (issuer {certificate.Issuer})";
    }

    /// <summary>A validation callback for SslStream: the pin (or the CA) decides; the host name does not.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) => Check(certificate) is null;

    private static string? Expired(X509Certificate2 certificate, DateTime now) =>
        now > certificate.NotAfter.ToUniversalTime() ? $"expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}"
        : now < certificate.NotBefore.ToUniversalTime() ? $"is not valid before {certificate.NotBefore.ToUniversalTime():yyyy-MM-dd}"
        : null;

    public void Dispose() => Certificate.Dispose();
}
