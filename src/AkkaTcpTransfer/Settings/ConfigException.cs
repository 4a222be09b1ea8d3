namespace AkkaTcpTransfer.Settings;

/// <summary>The configuration is unusable: a bad value, an unknown key, an unreadable file. The message names the
/// setting and what is wrong, in one line fit to show a user.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException(string message) : base(message) { }
    public ConfigException(string message, Exception inner) : base(message, inner) { }
}
