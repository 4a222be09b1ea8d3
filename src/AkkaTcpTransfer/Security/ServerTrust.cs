using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace AkkaTcpTransfer.Security;

/// <summary>How a client came to trust the server it connected to.</summary>
public enum TrustBasis
{
    /// <summary>The key matches the fingerprint the client was given (<c>--fingerprint</c>).</summary>
    GivenFingerprint,
    /// <summary>The key matches the pin in known_servers.</summary>
    KnownServer,
    /// <summary>A certificate authority the client trusts vouches for the server's name.</summary>
    CertificateAuthority,
    /// <summary>First contact, accepted because the client was told to trust on first use.</summary>
    FirstUse,
}

/// <summary>Why a client refused the server's identity.</summary>
public enum TrustProblem
{
    /// <summary>Nothing vouches for the key: no pin, no valid CA certificate, and trust on first use is off.</summary>
    Unknown,
    /// <summary>The key differs from the one pinned for this server (or given with --fingerprint).</summary>
    Mismatch,
    /// <summary>No certificate, or one that cannot be read.</summary>
    Invalid,
}

/// <summary>The client's rule for accepting a server's certificate, the same for the CLI and the embedding API: accept
/// exactly a key that matches a given fingerprint, a certificate a trusted CA issued for the host we dialled, a key
/// pinned in known_servers, or (when asked to) an unknown key on first contact. Nothing else; there is no "accept
/// anything" switch.</summary>
internal sealed class ServerTrust
{
    private readonly string? _given;
    private readonly bool _trustOnFirstUse;

    /// <param name="host">The host as the user named it (known_servers is keyed by it, and a CA certificate must name it).</param>
    /// <param name="givenFingerprint">A fingerprint that alone decides (pins and CAs are then not consulted), or null.</param>
    /// <param name="customRoots">CA certificates to trust instead of the system's, or null for the system's.</param>
    public ServerTrust(string host, int port, KnownServers known, string? givenFingerprint, bool trustOnFirstUse, X509Certificate2Collection? customRoots)
    {
        Host = host;
        Server = KnownServers.Key(host, port);
        Known = known;
        _given = givenFingerprint;
        _trustOnFirstUse = trustOnFirstUse;
        CustomRoots = customRoots;
    }

    public string Host { get; }

    /// <summary>The server as known_servers names it.</summary>
    public string Server { get; }

    public KnownServers Known { get; }

    public X509Certificate2Collection? CustomRoots { get; }

    /// <summary>A fresh check for one handshake.</summary>
    public Check NewCheck() => new(this);

    /// <summary>One handshake's decision: <see cref="Validate"/> is the certificate callback; afterwards the outcome
    /// says why the server was accepted, or why not.</summary>
    public sealed class Check(ServerTrust trust)
    {
        public string? PresentedFingerprint { get; private set; }
        public TrustBasis? Basis { get; private set; }
        public TrustProblem? Problem { get; private set; }

        /// <summary>One line for a user when <see cref="Problem"/> is set.</summary>
        public string? Explanation { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (certificate is null)
                return Refuse(TrustProblem.Invalid, $"the server at {trust.Server} presented no certificate");
            string presented;
            try
            {
                using var copy = new X509Certificate2(certificate);
                presented = Fingerprint.Of(copy);
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                return Refuse(TrustProblem.Invalid, $"the server at {trust.Server} presented a certificate that cannot be read: {e.Message}");
            }
            PresentedFingerprint = presented;
            if (trust._given is { } given)
            {
                return given == presented
                    ? Accept(TrustBasis.GivenFingerprint)
                    : Refuse(TrustProblem.Mismatch,
                        $"the server at {trust.Server} has key fingerprint {presented}, not {given} as given with --fingerprint: it is not the server you meant (or its key changed)");
            }
            if (errors == SslPolicyErrors.None) return Accept(TrustBasis.CertificateAuthority);
            string? pinned;
            try
            {
                pinned = trust.Known.Find(trust.Server);
            }
            catch (KnownServersException e)
            {
                return Refuse(TrustProblem.Invalid, $"cannot check the server at {trust.Server} against its pin: {e.Message}");
            }
            if (pinned is not null)
            {
                return pinned == presented
                    ? Accept(TrustBasis.KnownServer)
                    : Refuse(TrustProblem.Mismatch,
                        $"the server at {trust.Server} has key fingerprint {presented}, but {trust.Known.File} pins {pinned} for it: " +
                        $"it may be an impostor. If you know its key changed, delete the line for {trust.Server} from {trust.Known.File} and connect again");
            }
            if (trust._trustOnFirstUse) return Accept(TrustBasis.FirstUse);
            return Refuse(TrustProblem.Unknown,
                $"the server at {trust.Server} is not known: its key fingerprint is {presented}{DescribeCaProblem(certificate, errors, chain)}. " +
                "Compare it with the one the server printed at start, then pass --fingerprint with it (or --trust-on-first-use)");
        }

        private bool Accept(TrustBasis basis)
        {
            Basis = basis;
            return true;
        }

        private bool Refuse(TrustProblem problem, string explanation)
        {
            Problem = problem;
            Explanation = explanation;
            return false;
        }

        /// <summary>Why a CA-issued certificate did not do (expired, wrong name, unknown issuer), for the message.</summary>
        private static string DescribeCaProblem(X509Certificate certificate, SslPolicyErrors errors, X509Chain? chain)
        {
            // A self-signed certificate (the usual case) is meant to be pinned: its lack of a CA is no news.
            if (certificate.Subject == certificate.Issuer) return "";
            var problems = new List<string>();
            if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch)) problems.Add("its certificate does not name the host you connected to");
            if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors) && chain is not null)
            {
                foreach (var status in chain.ChainStatus)
                {
                    if (status.Status == X509ChainStatusFlags.UntrustedRoot || status.Status == X509ChainStatusFlags.PartialChain)
                        problems.Add("no trusted certificate authority issued it");
                    else if (status.Status != X509ChainStatusFlags.NoError)
                        problems.Add(status.StatusInformation.Trim().TrimEnd('.').ToLowerInvariant());
                }
            }
            var distinct = problems.Distinct().ToList();
            return distinct.Count == 0 ? "" : $" ({string.Join("; ", distinct)})";
        }
    }
}
