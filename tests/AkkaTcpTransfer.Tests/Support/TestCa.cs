using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>A certificate authority of the test's own (no system store is touched): a root, and server certificates
/// it issues, written as PEM files the way an operator would get them from a CA.</summary>
public sealed class TestCa : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _root;

    public TestCa(string folder)
    {
        Folder = folder;
        var request = new CertificateRequest("CN=AkkaTcpTransfer Test Root CA", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        _root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-365), DateTimeOffset.UtcNow.AddYears(5));
        RootFile = Path.Combine(folder, "ca.pem");
        File.WriteAllText(RootFile, _root.ExportCertificatePem());
    }

    public string Folder { get; }

    /// <summary>The root certificate, PEM: what a client is told to trust.</summary>
    public string RootFile { get; }

    /// <summary>Issues a server certificate for <paramref name="names"/> (DNS names or IP addresses), valid from
    /// <paramref name="notBefore"/> to <paramref name="notAfter"/>; returns its certificate and key files (PEM).</summary>
    /// <param name="node">A cluster node's certificate: for TLS clients too (each node is a client of some peers).</param>
    public (string Certificate, string Key) Issue(string label, string[] names, DateTimeOffset notBefore, DateTimeOffset notAfter, bool node = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names[0]}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            node ? [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")] : [new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var ip)) san.AddIpAddress(ip);
            else san.AddDnsName(name);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var certificate = request.Create(_root, notBefore, notAfter, serial);
        var certFile = Path.Combine(Folder, $"{label}.crt.pem");
        var keyFile = Path.Combine(Folder, $"{label}.key.pem");
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certFile, keyFile);
    }

    public void Dispose()
    {
        _root.Dispose();
        _key.Dispose();
    }
}

/// <summary>Examples read from docs/PROTOCOL.md, so that tests compare the server with the document.</summary>
public static class ProtocolDoc
{
    public static string Read()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "docs", "PROTOCOL.md");
            if (File.Exists(path)) return File.ReadAllText(path);
        }
        throw new FileNotFoundException("docs/PROTOCOL.md not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The hex of the Refused frame a TLS server sends a client that starts in the clear (the code block
    /// after the marker <c>&lt;!-- clear-refusal --&gt;</c>), without spaces.</summary>
    public static string ClearRefusal()
    {
        var doc = Read();
        var at = doc.IndexOf("<!-- clear-refusal -->", StringComparison.Ordinal);
        Assert.True(at >= 0, "PROTOCOL.md has no clear-refusal example");
        var start = doc.IndexOf("```\n", at, StringComparison.Ordinal) + 4;
        var end = doc.IndexOf("\n```", start, StringComparison.Ordinal);
        return doc[start..end].Replace(" ", "", StringComparison.Ordinal).Trim();
    }
}
