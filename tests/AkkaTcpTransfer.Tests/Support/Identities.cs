using System.Security.Cryptography;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Security;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>Client identities for tests: a resume key planted in a state folder, so that a raw peer and a real client
/// node can be the same person.</summary>
public static class Identities
{
    /// <summary>Writes a fresh resume key into <paramref name="stateDir"/> for a client named <paramref name="name"/> of the
    /// server at 127.0.0.1:<paramref name="port"/>, and returns it.</summary>
    public static byte[] Seed(string stateDir, int port, string name)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        Assert.True(new StateFolder(stateDir).WriteSecret(StateFolder.ResumeKeyFile("127.0.0.1", port, name), key));
        return key;
    }

    /// <summary>The identity digest the server derives from <paramref name="key"/> (as in Offer.sender_id).</summary>
    public static byte[] Of(byte[] key) => ClientIdentity.Of(key);
}
