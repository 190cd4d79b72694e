"""Run by tests/serving/test_serving_clients.py with the clients tool environment's python
(.tools/clients: langchain-openai, litellm): drive a running gateway the way applications do
and print what came back as one JSON object.

    python clients_script.py BASE_URL API_KEY MODEL TOOLS_MODEL
"""
import json
import sys


def main(base_url: str, api_key: str, model: str, tools_model: str) -> dict:
    import litellm
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI, OpenAI

    out = {}
    chat = ChatOpenAI(base_url=base_url, api_key=api_key, model=model, temperature=0, max_retries=0)
    reply = chat.invoke("my card was charged twice")
    out["chat_invoke"] = reply.content
    out["chat_invoke_version"] = (reply.response_metadata.get("model_name") or "")
    out["chat_stream"] = "".join(chunk.content for chunk in chat.stream("parcel never arrived"))

    @tool
    def lookup_policy(topic: str) -> str:
        """Fetch the current policy text for a topic."""
        return topic

    with_tools = ChatOpenAI(base_url=base_url, api_key=api_key, model=tools_model, temperature=0, max_retries=0)
    tool_reply = with_tools.bind_tools([lookup_policy]).invoke("what is the refund policy?")
    out["bind_tools_calls"] = [call["name"] for call in tool_reply.tool_calls]

    # LangChain's completion class sends logprobs: null, best_of: 1, n: 1, penalties 0 ... (accepted);
    # its defaults temperature 0.7 and max_tokens 256 are overrides, so pass the entry's values.
    legacy = OpenAI(base_url=base_url, api_key=api_key, model=model, temperature=0, max_tokens=5, max_retries=0)
    out["legacy_invoke"] = legacy.invoke("login fails")

    response = litellm.completion(model=f"openai/{model}", api_base=base_url, api_key=api_key,
                                  messages=[{"role": "user", "content": "my card was charged twice"}], max_retries=0)
    out["litellm"] = response.choices[0].message.content
    out["litellm_stream"] = "".join(chunk.choices[0].delta.content or "" for chunk in litellm.completion(
        model=f"openai/{model}", api_base=base_url, api_key=api_key, stream=True,
        messages=[{"role": "user", "content": "login fails"}]) if chunk.choices)
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
