using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cluster;

/// <summary>TLS on the cluster port (Akka.Remote over DotNetty): every node presents the cluster's key and accepts only a
/// peer that presents the same (mutual authentication, pinned to the key; no host names). A stranger is refused in the
/// TLS handshake, before Akka.Remote reads a byte of it, and each refused peer is logged once.</summary>
internal static class ClusterTls
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Refused addresses remembered so that each is logged once; past this many the list starts afresh.</summary>
    internal const int MaxRemembered = 1024;

    public static DotNettySslSetup Setup(ClusterIdentity identity)
    {
        var logged = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        bool Validate(X509Certificate2? certificate, X509Chain? chain, string remotePeer, SslPolicyErrors errors, ILoggingAdapter log)
        {
            if (identity.Check(certificate) is not { } why) return true;
            // The address without its port: a refused node retries from new ports.
            var peer = remotePeer.Contains(':', StringComparison.Ordinal) ? remotePeer[..remotePeer.LastIndexOf(':')] : remotePeer;
            // Bounded: strangers from many addresses cost a fresh start of the list, never memory.
            if (logged.Count >= MaxRemembered) logged.Clear();
            if (logged.TryAdd(peer, true)) log.Warning("refused a node at {0} on the cluster port: {1} (logged once per address)", peer, why);
            return false;
        }
        return new DotNettySslSetup(identity.Certificate, suppressValidation: false, requireMutualAuthentication: true,
            validateCertificateHostname: false, customValidator: Validate);
    }

    /// <summary>Before a node joins: each seed that answers is asked for a TLS handshake with this node's key, so that a
    /// node the cluster would refuse (another key, or TLS on one side only) stops at once and says why. A seed that does
    /// not answer yet is left to the join (it may be starting).</summary>
    /// <exception cref="NodeStartException">A seed would refuse this node, or this node it.</exception>
    public static async Task CheckSeedsAsync(ClusterSettings cluster, ClusterIdentity? identity, CancellationToken ct)
    {
        if (identity is null) return; // in the clear: a TLS probe would be garbage to a plain seed
        foreach (var (host, port) in cluster.Seeds)
        {
            if (port == cluster.Port && string.Equals(host, cluster.Host, StringComparison.OrdinalIgnoreCase)) continue;
            if (await ProbeAsync(host, port, identity, ct) is { } why)
                throw new NodeStartException(StartFailure.ClusterJoin, $"cannot join the cluster at {host}:{port}: {why}");
        }
    }

    /// <summary>Null when the seed at <paramref name="host"/>:<paramref name="port"/> accepts this node's key and holds
    /// the same (or does not answer), else why not.</summary>
    internal static async Task<string?> ProbeAsync(string host, int port, ClusterIdentity identity, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(ProbeTimeout);
        using var socket = new TcpClient();
        try
        {
            await socket.ConnectAsync(host, port, deadline.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
        string? refusal = null;
        var checkedTheirs = false;
        await using var tls = new SslStream(socket.GetStream(), leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = ClusterIdentity.TargetHost,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateContext = identity.Context,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                // Theirs is checked, and the handshake finished either way: the seed then sees this node's key too, and
                // its operator finds the attempt in its log. Nothing is sent over a connection to a seed refused here.
#pragma warning disable CA5359 // checked here, and a refused seed is answered with nothing but the close below
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    checkedTheirs = true;
                    refusal = identity.Check(certificate);
                    return true;
                },
#pragma warning restore CA5359
            }, deadline.Token);
            if (refusal is not null) return $"{refusal}; {identity.Requirement}";
            // TLS 1.3: a server that refuses the client's certificate says so after the client thinks it is done. One
            // read surfaces that alert (a node that accepted us waits for Akka.Remote's first frame: the read times out).
            try
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                wait.CancelAfter(TimeSpan.FromMilliseconds(500));
                var read = await tls.ReadAsync(new byte[1], wait.Token);
                return read == 0 ? $"it closed the connection after the TLS handshake: it refused this node's cluster key; {identity.Requirement}" : null;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return null;
            }
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            if (refusal is not null) return $"{refusal}; {identity.Requirement}";
            if (checkedTheirs) return $"it refused this node's cluster key: {identity.Requirement}";
            return "it does not speak TLS on its cluster port (was it started with --insecure?); every node of a cluster " +
                   "needs the same cluster key, or all run with --insecure";
        }
    }
}
