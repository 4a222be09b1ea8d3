using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AkkaTcpTransfer.Security;

/// <summary>What a server proves itself with in the TLS handshake: a certificate, its private key, and the chain to
/// send. Either made once and kept in the state folder (self-signed, ECDSA P-256: clients pin its
/// <see cref="Fingerprint"/>), or read from PEM files a CA issued (clients check the chain and host name).</summary>
internal sealed class ServerIdentity : IDisposable
{
    /// <summary>File names in the state folder.</summary>
    public const string CertificateFileName = "server-certificate.pem";
    public const string KeyFileName = "server-key.pem";

    private ServerIdentity(X509Certificate2 certificate, X509Certificate2Collection chain, string certificateFile, bool selfSigned, bool created)
    {
        Certificate = certificate;
        CertificateFile = certificateFile;
        SelfSigned = selfSigned;
        Created = created;
        Fingerprint = Security.Fingerprint.Of(certificate);
        Context = SslStreamCertificateContext.Create(certificate, chain, offline: true);
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Built once per server and shared by every connection (it holds the chain to send).</summary>
    public SslStreamCertificateContext Context { get; }

    /// <summary>SHA-256 of the public key (<see cref="Security.Fingerprint"/>).</summary>
    public string Fingerprint { get; }

    /// <summary>The PEM file holding the certificate (to show users how to check the fingerprint).</summary>
    public string CertificateFile { get; }

    /// <summary>Made by this program rather than issued by a CA: clients must pin it.</summary>
    public bool SelfSigned { get; }

    /// <summary>Made on this start (there was none in the state folder).</summary>
    public bool Created { get; }

    /// <summary>The identity kept in <paramref name="stateDir"/>, made there on first use: an ECDSA P-256 key and a
    /// self-signed certificate for <paramref name="names"/> (DNS names or IP addresses), valid ten years. The key file
    /// is readable by its owner only. An identity that exists but cannot be read is an error, never silently replaced:
    /// every client that pinned it would refuse the new one.</summary>
    /// <exception cref="IdentityException">The files cannot be read, or cannot be written.</exception>
    public static ServerIdentity LoadOrCreate(string stateDir, IEnumerable<string> names)
    {
        var certFile = Path.Combine(stateDir, CertificateFileName);
        var keyFile = Path.Combine(stateDir, KeyFileName);
        using var guard = LockFolder(stateDir);
        if (File.Exists(keyFile) && !File.Exists(certFile))
        {
            // The key is the identity (clients pin its public key): a lost certificate is made again from it.
            string keyPem;
            try
            {
                keyPem = File.ReadAllText(keyFile);
                using var kept = ECDsa.Create();
                kept.ImportFromPem(keyPem);
                PrivateFiles.Write(certFile, MakeSelfSigned(kept, names));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                throw new IdentityException(
                    $"the server key {keyFile} has no certificate beside it, and none can be made from it: {e.Message}. Restore " +
                    $"{CertificateFileName}, or move {KeyFileName} away to make a new identity", e);
            }
        }
        if (File.Exists(certFile) || File.Exists(keyFile))
        {
            PrivateFiles.Narrow(keyFile);
            try
            {
                return Load(certFile, keyFile, selfSigned: true, created: false);
            }
            catch (IdentityException e)
            {
                throw new IdentityException(
                    $"{e.Message}. Restore it, or move both {CertificateFileName} and {KeyFileName} away to make a new identity " +
                    "(clients that pinned the old one will then refuse this server until they are told the new fingerprint)", e);
            }
        }
        try
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            PrivateFiles.Write(keyFile, key.ExportPkcs8PrivateKeyPem() + "\n");
            PrivateFiles.Write(certFile, MakeSelfSigned(key, names));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IdentityException($"cannot write the server identity to {stateDir}: {e.Message}", e);
        }
        return Load(certFile, keyFile, selfSigned: true, created: true);
    }

    /// <summary>A certificate (with any intermediates after it, leaf first) and its private key, both PEM.</summary>
    /// <exception cref="IdentityException">The files cannot be read or do not match.</exception>
    public static ServerIdentity FromPem(string certificateFile, string keyFile) =>
        Load(Path.GetFullPath(certificateFile), Path.GetFullPath(keyFile), selfSigned: false, created: false);

    private static ServerIdentity Load(string certFile, string keyFile, bool selfSigned, bool created)
    {
        X509Certificate2 leaf;
        var chain = new X509Certificate2Collection();
        try
        {
            using var withKey = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            // Through PKCS#12 and back: SChannel (Windows) refuses a key that only lives in memory.
            leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certFile);
            foreach (var extra in all.Skip(1)) chain.Add(extra);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new IdentityException($"cannot read the server certificate {certFile} with key {keyFile}: {e.Message}", e);
        }
        if (leaf.GetECDsaPublicKey() is null && leaf.GetRSAPublicKey() is null)
            throw new IdentityException($"the certificate in {certFile} has neither an ECDSA nor an RSA key");
        return new ServerIdentity(leaf, chain, certFile, selfSigned, created);
    }

    /// <summary>A self-signed certificate (PEM) for <paramref name="key"/>.</summary>
    private static string MakeSelfSigned(ECDsa key, IEnumerable<string> names)
    {
        var request = new CertificateRequest("CN=akka-tcp-transfer server", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names.Append("localhost").Append("127.0.0.1").Append("::1").Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(name, out var ip)) san.AddIpAddress(ip);
            else if (Uri.CheckHostName(name) == UriHostNameType.Dns) san.AddDnsName(name);
        }
        request.CertificateExtensions.Add(san.Build());
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
        return certificate.ExportCertificatePem() + "\n";
    }

    /// <summary>Two servers starting on one state folder must not both make an identity: the second waits for the first.</summary>
    private static FileStream? LockFolder(string stateDir)
    {
        try
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(stateDir);
            else Directory.CreateDirectory(stateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IdentityException($"cannot create the state folder {stateDir}: {e.Message}", e);
        }
        var lockFile = Path.Combine(stateDir, "server-certificate.lock");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                return new FileStream(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50); // start-up code, not an actor: another server is making the identity right now
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IdentityException($"cannot lock {lockFile}: {e.Message}", e);
            }
        }
    }

    public void Dispose() => Certificate.Dispose();
}

/// <summary>A server identity (certificate and key) cannot be read or made. The message is one line fit for a user.</summary>
internal sealed class IdentityException : Exception
{
    public IdentityException(string message) : base(message) { }

    public IdentityException(string message, Exception inner) : base(message, inner) { }
}
