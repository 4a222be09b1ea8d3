using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Hosting;

/// <summary>Turns the tls settings into what connections use: a server's identity, or a client's trust rule.</summary>
internal static class NodeSecurity
{
    /// <summary>The server's TLS identity (made in the state folder on first start), or null with tls.enabled off.</summary>
    /// <exception cref="NodeStartException">The identity cannot be read or made.</exception>
    public static ConnectionSecurity.Server? ForServer(NodeSettings settings)
    {
        if (!settings.Tls.Enabled) return null;
        try
        {
            var identity = settings.Tls.CertificateFile is { } cert
                ? ServerIdentity.FromPem(cert, settings.Tls.KeyFile!)
                : ServerIdentity.LoadOrCreate(settings.StateDir, [settings.Host, Environment.MachineName]);
            return new ConnectionSecurity.Server(identity);
        }
        catch (IdentityException e)
        {
            throw new NodeStartException(StartFailure.NoIdentity, e.Message);
        }
    }

    /// <summary>How the client decides whether to trust the server, or null with tls.enabled off.</summary>
    /// <exception cref="ConfigException">The CA file cannot be read.</exception>
    public static ConnectionSecurity.Client? ForClient(NodeSettings settings) => ForClient(settings, settings.Host, settings.Port);

    /// <summary>The same for one of the server's nodes, <paramref name="host"/>:<paramref name="port"/> (its name is
    /// checked against a CA certificate, and its key pinned, on its own).</summary>
    public static ConnectionSecurity.Client? ForClient(NodeSettings settings, string host, int port)
    {
        if (!settings.Tls.Enabled) return null;
        X509Certificate2Collection? roots = null;
        if (settings.Tls.CaFile is { } caFile)
        {
            roots = [];
            try
            {
                roots.ImportFromPemFile(caFile);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new ConfigException($"{NodeConfig.Section}.tls.ca-certificates: cannot read {caFile}: {e.Message}", e);
            }
            if (roots.Count == 0) throw new ConfigException($"{NodeConfig.Section}.tls.ca-certificates: {caFile} holds no PEM certificate");
        }
        var known = new KnownServers(Path.Combine(settings.StateDir, KnownServers.FileName));
        var trust = new ServerTrust(host, port, known, settings.Tls.Fingerprint, settings.Tls.TrustOnFirstUse, roots);
        return new ConnectionSecurity.Client(host, trust);
    }
}
