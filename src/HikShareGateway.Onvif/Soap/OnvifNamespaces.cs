using System.Xml.Linq;

namespace HikShareGateway.Onvif.Soap;

/// <summary>XML namespaces of SOAP 1.2, WS-* and the ONVIF services (ONVIF Core spec §5).</summary>
public static class Ns
{
    public static readonly XNamespace Soap12 = "http://www.w3.org/2003/05/soap-envelope";
    /// <summary>SOAP 1.1; not what ONVIF mandates, accepted on input from lenient devices.</summary>
    public static readonly XNamespace Soap11 = "http://schemas.xmlsoap.org/soap/envelope/";
    public static readonly XNamespace Tds = "http://www.onvif.org/ver10/device/wsdl";
    public static readonly XNamespace Trt = "http://www.onvif.org/ver10/media/wsdl";
    public static readonly XNamespace Tr2 = "http://www.onvif.org/ver20/media/wsdl";
    public static readonly XNamespace Tt = "http://www.onvif.org/ver10/schema";
    public static readonly XNamespace Tptz = "http://www.onvif.org/ver20/ptz/wsdl";
    public static readonly XNamespace Tev = "http://www.onvif.org/ver10/events/wsdl";
    public static readonly XNamespace Wsnt = "http://docs.oasis-open.org/wsn/b-2";
    public static readonly XNamespace Wsa = "http://www.w3.org/2005/08/addressing";
    public static readonly XNamespace Ter = "http://www.onvif.org/ver10/error";
    public static readonly XNamespace Wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    public static readonly XNamespace Wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    public static readonly XNamespace Tse = "http://www.onvif.org/ver10/search/wsdl";
    public static readonly XNamespace Trp = "http://www.onvif.org/ver10/replay/wsdl";
    public static readonly XNamespace Trc = "http://www.onvif.org/ver10/recording/wsdl";
    public static readonly XNamespace Tmd = "http://www.onvif.org/ver10/deviceIO/wsdl";
    public static readonly XNamespace Timg = "http://www.onvif.org/ver20/imaging/wsdl";
    /// <summary>WS-Discovery (April 2005, the version ONVIF uses) and its WS-Addressing (August 2004).</summary>
    public static readonly XNamespace WsDiscovery = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
    public static readonly XNamespace Wsa2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    public static readonly XNamespace Dn = "http://www.onvif.org/ver10/network/wsdl";

    public const string PasswordDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
    public const string Base64EncodingType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
}
